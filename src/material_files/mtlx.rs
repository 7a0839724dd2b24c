//! MaterialX documents (`.mtlx`) as the text of a usda layer, laid out the way pxr's usdMtlx file
//! format lays them out, so that `references = @looks.mtlx@</MaterialX/Materials>` composes like
//! any other layer and the UsdShade reader (`stage/material/materialx.rs`) can walk the result.
//!
//! The layer is `def Scope "MaterialX"` holding `def Scope "Materials"` holding one
//! `def Material` per material of the document. A stage references `/MaterialX/Materials`, so
//! nothing outside a Material is composed in: every Material carries its own copy of each node
//! graph and top-level node it reaches (transitively, each once, whatever cycles the document has).
//!
//! Translated:
//! - materials: every top-level node of type `material` (`surfacematerial`, `volumematerial`,
//!   MaterialX 1.38 and later) and the 1.37 form, `<material>` holding `<shaderref node=...>`
//!   with `<bindinput>`/`<bindparam>` children. The material's shader inputs become
//!   `outputs:mtlx:surface`, `outputs:mtlx:displacement` and `outputs:mtlx:volume` connections,
//!   and the document's `version` its `config:mtlx:version`, as pxr writes them;
//! - nodes: `def Shader` with `info:id` from the node's `nodedef` attribute, else
//!   `ND_<category>_<type>` (which is what the reader goes by); its inputs (and 1.37 parameters)
//!   as typed `inputs:` attributes with their values; its outputs declared (`outputs:out`, or one
//!   per output of a multi-output node: those it declares and those other nodes connect to);
//! - node graphs: `def NodeGraph` holding all their nodes, their interface inputs as attributes
//!   of the NodeGraph and their outputs as `outputs:` connections to the nodes inside;
//! - connections (`nodename`, `nodegraph` + `output`, `interfacename`) as absolute paths to the
//!   copies inside the Material, written as found, even when they name nothing or form a cycle:
//!   the reader reports those;
//! - `fileprefix` on filenames (the nearest one applies: an inner `fileprefix`
//!   replaces outer ones, as MaterialX resolves it) and `colorspace`
//!   (the nearest one, from the input outwards to the document) as the filename attribute's
//!   `colorSpace` metadata. Filenames stay as written (relative ones resolve against the layer,
//!   which is anchored in the document's folder);
//! - names that are not USD identifiers: invalid characters become `_`, a leading digit gets a
//!   `_` before it, and a name that two MaterialX names end up sharing gets `_1`, `_2`... on the
//!   later ones.
//!
//! Not translated: looks, material assignments, collections, geometry info, custom node
//! definitions and implementations, typedefs, units, `xi:include`, tokens and `[token]`
//! substitution in filenames, 1.37 `channels` swizzles, documentation and layout attributes.
//! A 1.37 `<material>` with no `<shaderref>` naming a node is left out without an error. A value
//! that does not parse as its type is left out (the attribute is still declared, so connections
//! hold); so is a filename that usda cannot quote (one holding `@@@` or ending in `@`).
//!
//! Errors are the document's own: malformed XML, or a root element other than `<materialx>`,
//! named as `<document>: line L, column C: <what>`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use roxmltree::{Node, TextPos};

/// The most XML nodes a document may hold. The largest MaterialX documents in circulation hold
/// tens of thousands; the limit keeps a hostile document from growing the tree without bound.
const MAX_XML_NODES: u32 = 1 << 20;

/// Where the layer puts the materials: the prim stages reference.
const MATERIALS: &str = "/MaterialX/Materials";

/// Elements that are never nodes, though some of them carry `name` and `type` as nodes do.
const NOT_NODES: &[&str] = &[
    "attributedef",
    "backdrop",
    "collection",
    "geominfo",
    "geompropdef",
    "implementation",
    "input",
    "look",
    "lookgroup",
    "material",
    "materialassign",
    "member",
    "nodedef",
    "nodegraph",
    "output",
    "parameter",
    "propertyset",
    "propertysetassign",
    "targetdef",
    "token",
    "typedef",
    "unitdef",
    "unittypedef",
    "variant",
    "variantassign",
    "variantset",
    "visibility",
];

/// The text of a usda layer holding the document's materials under `/MaterialX/Materials`.
///
/// `document` is the `.mtlx` file's path, used only to name it in errors.
pub fn to_usda(xml: &str, document: &Path) -> Result<String, String> {
    let options = roxmltree::ParsingOptions {
        nodes_limit: MAX_XML_NODES,
        ..Default::default()
    };
    let tree = roxmltree::Document::parse_with_options(xml, options).map_err(|e| {
        let pos = match e {
            // roxmltree places these at 1:1; where the text stops is where to look.
            roxmltree::Error::UnexpectedEndOfStream | roxmltree::Error::UnclosedRootNode => end_of(xml),
            _ => e.pos(),
        };
        // roxmltree puts the position inside its message; ours leads with it instead.
        located(document, pos, &e.to_string().replace(&format!(" at {}", e.pos()), ""))
    })?;
    let root = tree.root_element();
    let root_tag = root.tag_name().name();
    if root_tag != "materialx" {
        let pos = tree.text_pos_at(root.range().start);
        return Err(located(
            document,
            pos,
            &format!("the root element is <{root_tag}>, not <materialx>"),
        ));
    }

    let doc = Doc::index(root);
    let mut usda = Usda::default();
    usda.line("#usda 1.0");
    usda.line("");
    usda.open("def Scope \"MaterialX\"");
    usda.open("def Scope \"Materials\"");
    let mut material_names = Names::default();
    for element in elements(root) {
        let Some(name) = element.attribute("name") else {
            continue;
        };
        if tag(element) == "material" {
            doc.write_legacy_material(&mut usda, element, name, &mut material_names);
        } else if is_node(element) && element.attribute("type") == Some("material") {
            doc.write_material(&mut usda, element, &material_names.claim(name));
        }
    }
    usda.close();
    usda.close();
    Ok(usda.text)
}

/// An error at `pos` of `document`.
fn located(document: &Path, pos: TextPos, what: &str) -> String {
    format!("{}: line {}, column {}: {what}", document.display(), pos.row, pos.col)
}

/// The position just after the last character of `text`.
fn end_of(text: &str) -> TextPos {
    let last_line = text.rsplit('\n').next().unwrap_or_default();
    let row = text.matches('\n').count() + 1;
    TextPos::new(row as u32, last_line.chars().count() as u32 + 1)
}

/// A node or node graph of the document, and the prim name its copies get.
struct Member<'a, 'i> {
    element: Node<'a, 'i>,
    prim: String,
}

/// Which map of [`Doc`] a top-level name is looked up in: `nodename` names nodes, `nodegraph`
/// names graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TopLevel {
    Node,
    Graph,
}

/// The top level of a document: what materials can reach, by MaterialX name.
struct Doc<'a, 'i> {
    root: Node<'a, 'i>,
    /// Top-level nodes other than materials.
    nodes: HashMap<&'a str, Member<'a, 'i>>,
    graphs: HashMap<&'a str, Member<'a, 'i>>,
    /// Nodes and graphs in document order, the order their copies are written in.
    order: Vec<(TopLevel, &'a str)>,
    /// The prim names the nodes and graphs took, which a 1.37 shaderref's shader must avoid.
    names: Names,
}

impl<'a, 'i> Doc<'a, 'i> {
    fn index(root: Node<'a, 'i>) -> Doc<'a, 'i> {
        let mut doc = Doc {
            root,
            nodes: HashMap::new(),
            graphs: HashMap::new(),
            order: Vec::new(),
            names: Names::default(),
        };
        for element in elements(root) {
            let Some(name) = element.attribute("name") else {
                continue;
            };
            let kind = if tag(element) == "nodegraph" {
                TopLevel::Graph
            } else if is_node(element) && element.attribute("type") != Some("material") {
                TopLevel::Node
            } else {
                continue;
            };
            let members = match kind {
                TopLevel::Node => &mut doc.nodes,
                TopLevel::Graph => &mut doc.graphs,
            };
            // Names are unique in a valid document; in another, the first one is the one meant.
            if members.contains_key(name) {
                continue;
            }
            members.insert(
                name,
                Member {
                    element,
                    prim: doc.names.claim(name),
                },
            );
            doc.order.push((kind, name));
        }
        doc
    }

    /// The top-level nodes and graphs that `ports` reach, directly or through each other. Each is
    /// expanded once, so the walk ends on any document, cycles included.
    fn reach(&self, ports: impl IntoIterator<Item = Node<'a, 'i>>) -> HashSet<(TopLevel, &'a str)> {
        let mut reached = HashSet::new();
        let mut todo = Vec::new();
        // What a port names at the top level: a node only from a top-level port (inside a graph,
        // `nodename` names a sibling), a graph from anywhere.
        let follow = |port: Node<'a, 'i>, top_level: bool, todo: &mut Vec<(TopLevel, &'a str)>| {
            if top_level {
                todo.extend(port.attribute("nodename").map(|n| (TopLevel::Node, n)));
            }
            todo.extend(port.attribute("nodegraph").map(|g| (TopLevel::Graph, g)));
        };
        for port in ports {
            follow(port, true, &mut todo);
        }
        while let Some(key) = todo.pop() {
            if !reached.insert(key) {
                continue;
            }
            match key.0 {
                TopLevel::Node => {
                    if let Some(node) = self.nodes.get(key.1) {
                        for port in ports_of(node.element) {
                            follow(port, true, &mut todo);
                        }
                    }
                }
                TopLevel::Graph => {
                    if let Some(graph) = self.graphs.get(key.1) {
                        for child in elements(graph.element) {
                            match tag(child) {
                                // Interface inputs are connected from outside the graph.
                                "input" | "parameter" => follow(child, true, &mut todo),
                                "output" => follow(child, false, &mut todo),
                                _ => {
                                    for port in ports_of(child) {
                                        follow(port, false, &mut todo);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        reached
    }

    /// The Material for a MaterialX 1.38 material node (`surfacematerial`...).
    fn write_material(&self, usda: &mut Usda, material: Node<'a, 'i>, prim: &str) {
        let path = format!("{MATERIALS}/{prim}");
        let top = self.top_scope(&path);
        self.open_material(usda, prim);
        let mut written = HashSet::new();
        for port in ports_of(material) {
            let Some(output) = material_output(port.attribute("type").unwrap_or_default()) else {
                continue;
            };
            if let Some(source) = top.source(port) {
                if written.insert(output) {
                    usda.line(&format!("token outputs:{output}.connect = <{source}>"));
                }
            }
        }
        self.write_reached(usda, &self.reach(ports_of(material)), &path);
        usda.close();
    }

    /// The Material for a MaterialX 1.37 `<material>`: one Shader per `<shaderref>`, its bound
    /// inputs as the Shader's inputs. Left out when no shaderref names a node.
    fn write_legacy_material(&self, usda: &mut Usda, material: Node<'a, 'i>, name: &str, material_names: &mut Names) {
        let shaderrefs: Vec<Node> = elements(material)
            .filter(|s| tag(*s) == "shaderref" && (s.attribute("node").is_some() || s.attribute("nodedef").is_some()))
            .collect();
        if shaderrefs.is_empty() {
            return;
        }
        let prim = material_names.claim(name);
        let path = format!("{MATERIALS}/{prim}");
        let top = self.top_scope(&path);
        // The shaders sit beside the copies of top-level nodes and graphs: their names must not clash.
        let mut names = self.names.clone();
        let shaders: Vec<(Node, String)> = shaderrefs
            .iter()
            .map(|s| (*s, names.claim(s.attribute("name").unwrap_or("shader"))))
            .collect();

        self.open_material(usda, &prim);
        let mut written = HashSet::new();
        for (shaderref, shader) in &shaders {
            let Some(output) = material_output(shader_type(*shaderref)) else {
                continue;
            };
            if written.insert(output) {
                usda.line(&format!(
                    "token outputs:{output}.connect = <{path}/{shader}.outputs:out>"
                ));
            }
        }
        for (shaderref, shader) in &shaders {
            usda.open(&format!("def Shader {}", quoted(shader)));
            let id = match shaderref.attribute("nodedef").filter(|d| !d.is_empty()) {
                Some(nodedef) => nodedef.to_string(),
                None => format!(
                    "ND_{}_{}",
                    shaderref.attribute("node").unwrap_or_default(),
                    shader_type(*shaderref)
                ),
            };
            usda.line(&format!("uniform token info:id = {}", quoted(&id)));
            let mut properties = HashSet::new();
            for port in ports_of(*shaderref) {
                write_port(usda, "inputs", port, &top, &mut properties);
            }
            usda.line(&format!("{} outputs:out", UsdType::of(shader_type(*shaderref)).name));
            usda.close();
        }
        self.write_reached(usda, &self.reach(shaderrefs.iter().flat_map(|s| ports_of(*s))), &path);
        usda.close();
    }

    /// Opens `def Material`, with the MaterialX version pxr records on it.
    fn open_material(&self, usda: &mut Usda, prim: &str) {
        usda.line(&format!("def Material {} (", quoted(prim)));
        usda.line("    prepend apiSchemas = [\"MaterialXConfigAPI\"]");
        usda.line(")");
        usda.open("");
        if let Some(version) = self.root.attribute("version") {
            usda.line(&format!("uniform string config:mtlx:version = {}", quoted(version)));
        }
    }

    /// Where a top-level `nodename` or `nodegraph` of a material at `material` leads.
    fn top_scope<'s>(&'s self, material: &'s str) -> Scope<'s, 'a, 'i> {
        Scope {
            path: material,
            nodes: &self.nodes,
            in_graph: false,
            material,
            doc: self,
        }
    }

    /// The copies of the `reached` nodes and graphs, in document order, inside the Material at
    /// `material`.
    fn write_reached(&self, usda: &mut Usda, reached: &HashSet<(TopLevel, &'a str)>, material: &str) {
        let top = self.top_scope(material);
        for (kind, name) in &self.order {
            if !reached.contains(&(*kind, *name)) {
                continue;
            }
            match kind {
                TopLevel::Node => write_node(usda, &self.nodes[name], &top, self.root),
                TopLevel::Graph => self.write_graph(usda, &self.graphs[name], material),
            }
        }
    }

    /// A node graph as a NodeGraph inside the Material at `material`: its interface inputs, its
    /// outputs and all its nodes.
    fn write_graph(&self, usda: &mut Usda, graph: &Member<'a, 'i>, material: &str) {
        let path = format!("{material}/{}", graph.prim);
        usda.open(&format!("def NodeGraph {}", quoted(&graph.prim)));
        let mut properties = HashSet::new();
        let top = self.top_scope(material);
        for port in ports_of(graph.element) {
            write_port(usda, "inputs", port, &top, &mut properties);
        }

        let mut names = Names::default();
        let mut members = HashMap::new();
        let mut order = Vec::new();
        for child in elements(graph.element).filter(|c| is_node(*c)) {
            let Some(name) = child.attribute("name") else { continue };
            if !members.contains_key(name) {
                members.insert(
                    name,
                    Member {
                        element: child,
                        prim: names.claim(name),
                    },
                );
                order.push(name);
            }
        }
        let inside = Scope {
            path: &path,
            nodes: &members,
            in_graph: true,
            material,
            doc: self,
        };
        for output in elements(graph.element).filter(|c| tag(*c) == "output") {
            write_port(usda, "outputs", output, &inside, &mut properties);
        }
        for name in order {
            write_node(usda, &members[name], &inside, graph.element);
        }
        usda.close();
    }
}

/// Where the connections of the ports in one place lead: the top level of a material (its copies
/// of top-level nodes and graphs), or one node graph's copy.
struct Scope<'s, 'a, 'i> {
    /// The prim the scope's nodes are children of.
    path: &'s str,
    /// The nodes a `nodename` here can name.
    nodes: &'s HashMap<&'a str, Member<'a, 'i>>,
    /// Whether `path` is a NodeGraph, whose inputs an `interfacename` names.
    in_graph: bool,
    /// The Material, which holds the copies of node graphs.
    material: &'s str,
    doc: &'s Doc<'a, 'i>,
}

impl Scope<'_, '_, '_> {
    /// The output (or graph input) `port` is connected to, as an absolute property path; `None`
    /// when it names none. Names that match nothing are translated all the same.
    fn source(&self, port: Node) -> Option<String> {
        let attribute = |name| port.attribute(name).filter(|v| !v.is_empty());
        let output = attribute("output").map(identifier);
        if let Some(input) = attribute("interfacename").filter(|_| self.in_graph) {
            return Some(format!("{}.inputs:{}", self.path, identifier(input)));
        }
        if let Some(node) = attribute("nodename") {
            let (prim, output) = match self.nodes.get(node) {
                // A single-output node has one output, `out`, whatever `output` says.
                Some(member) if !is_multi_output(member.element) => (member.prim.clone(), None),
                Some(member) => (member.prim.clone(), output),
                None => (identifier(node), output),
            };
            return Some(format!(
                "{}/{prim}.outputs:{}",
                self.path,
                output.as_deref().unwrap_or("out")
            ));
        }
        if let Some(graph) = attribute("nodegraph") {
            let (prim, output) = match self.doc.graphs.get(graph) {
                // With no `output`, a graph's connection is to its (first) output.
                Some(member) => (
                    member.prim.clone(),
                    output.or_else(|| {
                        let first = elements(member.element).find(|c| tag(*c) == "output");
                        first.and_then(|o| o.attribute("name")).map(identifier)
                    }),
                ),
                None => (identifier(graph), output),
            };
            return Some(format!(
                "{}/{prim}.outputs:{}",
                self.material,
                output.as_deref().unwrap_or("out")
            ));
        }
        None
    }
}

/// A node as a Shader: its id, inputs and outputs. `container` is the element holding it (the
/// document or a node graph), searched for the outputs of a multi-output node others connect to.
fn write_node(usda: &mut Usda, node: &Member, scope: &Scope, container: Node) {
    let element = node.element;
    let node_type = element.attribute("type").unwrap_or_default();
    usda.open(&format!("def Shader {}", quoted(&node.prim)));
    let id = match element.attribute("nodedef").filter(|d| !d.is_empty()) {
        Some(nodedef) => nodedef.to_string(),
        None => format!("ND_{}_{node_type}", tag(element)),
    };
    usda.line(&format!("uniform token info:id = {}", quoted(&id)));
    let mut properties = HashSet::new();
    for port in ports_of(element) {
        write_port(usda, "inputs", port, scope, &mut properties);
    }
    if is_multi_output(element) {
        let declared = elements(element)
            .filter(|o| tag(*o) == "output")
            .filter_map(|o| Some((o.attribute("name")?, o.attribute("type").unwrap_or_default())));
        let name = element.attribute("name").unwrap_or_default();
        for (output, output_type) in declared.chain(connected_outputs(container, name)) {
            let property = format!("outputs:{}", identifier(output));
            if properties.insert(property.clone()) {
                usda.line(&format!("{} {property}", UsdType::of(output_type).name));
            }
        }
    } else {
        usda.line(&format!("{} outputs:out", UsdType::of(node_type).name));
    }
    usda.close();
}

/// The outputs of node `name` that ports in `container` connect to (with the ports' types).
fn connected_outputs<'a>(container: Node<'a, '_>, name: &str) -> Vec<(&'a str, &'a str)> {
    let mut outputs = Vec::new();
    for child in elements(container) {
        let own = (tag(child) == "output").then_some(child);
        for port in own.into_iter().chain(ports_of(child)) {
            if port.attribute("nodename") == Some(name) {
                if let Some(output) = port.attribute("output") {
                    outputs.push((output, port.attribute("type").unwrap_or_default()));
                }
            }
        }
    }
    outputs
}

/// One input (or output) as a typed attribute in namespace `namespace`: its value, a filename's
/// colour space, its connection. `properties` holds the names already written on the prim; a
/// second port of the same name is left out.
fn write_port(usda: &mut Usda, namespace: &str, port: Node, scope: &Scope, properties: &mut HashSet<String>) {
    let Some(name) = port.attribute("name") else { return };
    let property = format!("{namespace}:{}", identifier(name));
    if !properties.insert(property.clone()) {
        return;
    }
    let usd_type = UsdType::of(port.attribute("type").unwrap_or_default());
    let value = port.attribute("value").and_then(|text| match usd_type.form {
        Form::Asset if !text.is_empty() => {
            usd_type.value(&format!("{}{text}", effective(port, "fileprefix").unwrap_or("")))
        }
        _ => usd_type.value(text),
    });
    let color_space = match usd_type.form {
        Form::Asset => effective(port, "colorspace").filter(|c| !c.is_empty()),
        _ => None,
    };
    let source = scope.source(port);

    if value.is_some() || color_space.is_some() || source.is_none() {
        let mut line = format!("{} {property}", usd_type.name);
        if let Some(value) = value {
            line.push_str(" = ");
            line.push_str(&value);
        }
        if let Some(color_space) = color_space {
            line.push_str(&format!(" (colorSpace = {})", quoted(color_space)));
        }
        usda.line(&line);
    }
    if let Some(source) = source {
        usda.line(&format!("{} {property}.connect = <{source}>", usd_type.name));
    }
}

/// The value of `attribute` in effect at `element`: its own, else its nearest ancestor's (node,
/// node graph, document). This is how MaterialX scopes `colorspace` and `fileprefix`: the
/// nearest `fileprefix` replaces outer ones rather than adding to them (MaterialX's
/// `Element::getActiveFilePrefix`, which pxr's reader resolves filenames with).
fn effective<'a>(element: Node<'a, '_>, attribute: &str) -> Option<&'a str> {
    element
        .ancestors()
        .filter(Node::is_element)
        .find_map(|e| e.attribute(attribute))
}

/// The Material output a material's input of MaterialX type `mtlx_type` feeds.
fn material_output(mtlx_type: &str) -> Option<&'static str> {
    match mtlx_type {
        "surfaceshader" => Some("mtlx:surface"),
        "displacementshader" => Some("mtlx:displacement"),
        "volumeshader" => Some("mtlx:volume"),
        _ => None,
    }
}

/// The output type of a 1.37 shaderref: its `type`, else a surface shader (what shaderrefs are
/// in practice).
fn shader_type<'a>(shaderref: Node<'a, '_>) -> &'a str {
    shaderref
        .attribute("type")
        .filter(|t| !t.is_empty())
        .unwrap_or("surfaceshader")
}

/// The element children of `element`.
fn elements<'a, 'i>(element: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    element.children().filter(Node::is_element)
}

/// An element's name without namespace prefix.
fn tag<'a>(element: Node<'a, '_>) -> &'a str {
    element.tag_name().name()
}

/// Whether `element` is a node: named, typed and not one of the other elements.
fn is_node(element: Node) -> bool {
    element.attribute("name").is_some() && element.attribute("type").is_some() && !NOT_NODES.contains(&tag(element))
}

/// Whether a node has several outputs, which connections then name with `output`.
fn is_multi_output(node: Node) -> bool {
    node.attribute("type") == Some("multioutput") || elements(node).any(|c| tag(c) == "output")
}

/// The inputs of a node, node graph, material or shaderref (1.37 parameters and bindings too).
fn ports_of<'a, 'i>(element: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    elements(element).filter(|c| matches!(tag(*c), "input" | "parameter" | "bindinput" | "bindparam"))
}

/// `name` as a USD identifier: characters other than ASCII letters, digits and `_` become `_`,
/// and one that would start with a digit (or be empty) starts with `_`.
fn identifier(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert(0, '_');
    }
    id
}

/// Prim names handed out under one parent, unique even when two MaterialX names become the same
/// identifier.
#[derive(Debug, Default, Clone)]
struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// `name` as an identifier no earlier claim got; later claims of a taken identifier get
    /// `_1`, `_2`... appended.
    fn claim(&mut self, name: &str) -> String {
        let base = identifier(name);
        let mut candidate = base.clone();
        let mut suffix = 1;
        while !self.taken.insert(candidate.clone()) {
            candidate = format!("{base}_{suffix}");
            suffix += 1;
        }
        candidate
    }
}

/// What values of one type look like in usda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `n` floats: a scalar, or a tuple.
    Float(usize),
    /// An `n` x `n` matrix of doubles.
    Matrix(usize),
    Int,
    Bool,
    /// A quoted string (strings and tokens).
    Text,
    /// An `@asset path@`.
    Asset,
}

/// The Sdf type of one MaterialX type, and how its values are written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsdType {
    name: String,
    form: Form,
    array: bool,
}

impl UsdType {
    /// The Sdf type pxr's usdMtlx gives MaterialX type `mtlx_type`; types with no value type of
    /// their own (shaders, BSDFs, closures...) are tokens.
    fn of(mtlx_type: &str) -> UsdType {
        let (element, array) = match mtlx_type.strip_suffix("array") {
            Some(element) => (element, true),
            None => (mtlx_type, false),
        };
        let known = match element {
            "float" => Some(("float", Form::Float(1))),
            "integer" => Some(("int", Form::Int)),
            "boolean" if !array => Some(("bool", Form::Bool)),
            "color3" => Some(("color3f", Form::Float(3))),
            "color4" => Some(("color4f", Form::Float(4))),
            "vector2" => Some(("float2", Form::Float(2))),
            "vector3" => Some(("float3", Form::Float(3))),
            "vector4" => Some(("float4", Form::Float(4))),
            "matrix33" if !array => Some(("matrix3d", Form::Matrix(3))),
            "matrix44" if !array => Some(("matrix4d", Form::Matrix(4))),
            "string" | "geomname" => Some(("string", Form::Text)),
            "filename" if !array => Some(("asset", Form::Asset)),
            _ => None,
        };
        match known {
            Some((name, form)) if array => UsdType {
                name: format!("{name}[]"),
                form,
                array,
            },
            Some((name, form)) => UsdType {
                name: name.to_string(),
                form,
                array,
            },
            None => UsdType {
                name: "token".to_string(),
                form: Form::Text,
                array: false,
            },
        }
    }

    /// `text` (a MaterialX value string) as a usda value; `None` when it does not parse as this
    /// type or cannot be written.
    fn value(&self, text: &str) -> Option<String> {
        if !self.array {
            return scalar(self.form, text);
        }
        let items: Vec<&str> = if text.trim().is_empty() {
            Vec::new()
        } else {
            text.split(',').collect()
        };
        let written: Option<Vec<String>> = match self.form {
            Form::Text => Some(items.iter().map(|s| quoted(s.trim())).collect()),
            Form::Int => items.iter().map(|s| scalar(Form::Int, s)).collect(),
            Form::Float(1) => items.iter().map(|s| scalar(Form::Float(1), s)).collect(),
            Form::Float(n) if items.len().is_multiple_of(n) => items
                .chunks(n)
                .map(|tuple| scalar(Form::Float(n), &tuple.join(",")))
                .collect(),
            _ => None,
        };
        Some(format!("[{}]", written?.join(", ")))
    }
}

/// One value of `form` from its MaterialX text: numbers separated by commas (spaces allowed).
fn scalar(form: Form, text: &str) -> Option<String> {
    match form {
        Form::Float(n) => Some(tuple(&numbers::<f32>(text, n)?)),
        Form::Matrix(n) => {
            let values = numbers::<f64>(text, n * n)?;
            let rows: Vec<String> = values.chunks(n).map(tuple).collect();
            Some(format!("({})", rows.join(", ")))
        }
        Form::Int => text.trim().parse::<i32>().ok().map(|i| i.to_string()),
        // pxr writes booleans as 1 and 0; both usda readers take them.
        Form::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some("1".to_string()),
            "false" | "0" => Some("0".to_string()),
            _ => None,
        },
        Form::Text => Some(quoted(text)),
        Form::Asset => asset(text),
    }
}

/// `count` finite numbers from comma-separated `text`, each in the shortest form that reads back
/// as the same value (usda's number syntax is narrower than MaterialX's: no `.5`, no `1.`).
fn numbers<T>(text: &str, count: usize) -> Option<Vec<String>>
where
    T: std::str::FromStr + std::fmt::Display + Into<f64> + Copy,
{
    let values: Vec<String> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<T>()
                .ok()
                .filter(|v| (*v).into().is_finite())
                .map(|v| v.to_string())
        })
        .collect::<Option<_>>()?;
    (values.len() == count).then_some(values)
}

/// Numbers as a usda value: one alone, several as a tuple.
fn tuple(values: &[String]) -> String {
    match values {
        [one] => one.clone(),
        many => format!("({})", many.join(", ")),
    }
}

/// `text` as a double-quoted usda string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `path` as a usda asset path: `@path@`, or `@@@path@@@` when it holds an `@`. `None` for what
/// neither form can hold (`@@@`, an `@` at the end, control characters).
fn asset(path: &str) -> Option<String> {
    if path.chars().any(char::is_control) {
        None
    } else if !path.contains('@') {
        Some(format!("@{path}@"))
    } else if path.contains("@@@") || path.ends_with('@') {
        None
    } else {
        Some(format!("@@@{path}@@@"))
    }
}

/// usda text being written, one indented line at a time.
#[derive(Debug, Default)]
struct Usda {
    text: String,
    depth: usize,
}

impl Usda {
    fn line(&mut self, line: &str) {
        if !line.is_empty() {
            for _ in 0..self.depth {
                self.text.push_str("    ");
            }
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Writes `header` (if any) and opens a block under it.
    fn open(&mut self, header: &str) {
        if !header.is_empty() {
            self.line(header);
        }
        self.line("{");
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(xml: &str) -> String {
        to_usda(xml, Path::new("/looks/test.mtlx")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The lines written directly inside the prim at `path` (not inside its children, and not
    /// its own metadata), trimmed; `None` when no such prim was written.
    fn block(usda: &str, path: &str) -> Option<Vec<String>> {
        let mut stack: Vec<String> = Vec::new();
        let mut pending: Option<String> = None;
        let mut found = None;
        for line in usda.lines().map(str::trim) {
            if let Some(def) = line.strip_prefix("def ") {
                pending = def.split('"').nth(1).map(str::to_string);
            } else if line == "{" {
                stack.push(pending.take().unwrap_or_default());
                if format!("/{}", stack.join("/")) == path {
                    found.get_or_insert_with(Vec::new);
                }
            } else if line == "}" {
                stack.pop();
            } else if pending.is_none() && format!("/{}", stack.join("/")) == path && !line.is_empty() {
                found.get_or_insert_with(Vec::new).push(line.to_string());
            }
        }
        found
    }

    /// Asserts the prim at `path` holds exactly `expected` lines (in any order).
    #[track_caller]
    fn assert_block(usda: &str, path: &str, expected: &[&str]) {
        let Some(mut lines) = block(usda, path) else {
            panic!("no prim {path} in\n{usda}")
        };
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        lines.sort();
        expected.sort();
        assert_eq!(lines, expected, "prim {path} in\n{usda}");
    }

    const TEXTURED: &str = r#"<?xml version="1.0"?>
<materialx version="1.38" colorspace="lin_rec709">
  <nodegraph name="NG">
    <image name="base_image" type="color3">
      <input name="file" type="filename" value="tex/base.jpg" colorspace="srgb_texture" />
    </image>
    <image name="rough_image" type="float">
      <input name="file" type="filename" value="tex/rough.png" />
    </image>
    <output name="base_out" type="color3" nodename="base_image" />
    <output name="rough_out" type="float" nodename="rough_image" />
  </nodegraph>
  <standard_surface name="SR" type="surfaceshader" xpos="3" ypos="4">
    <input name="base" type="float" value="0.8" />
    <input name="base_color" type="color3" nodegraph="NG" output="base_out" />
    <input name="specular_roughness" type="float" nodegraph="NG" output="rough_out" />
  </standard_surface>
  <surfacematerial name="M" type="material">
    <input name="surfaceshader" type="surfaceshader" nodename="SR" />
  </surfacematerial>
  <look name="L"><materialassign name="MA" material="M" geom="/a" /></look>
</materialx>
"#;

    #[test]
    fn image_graph_surface_and_material_connect_by_absolute_paths() {
        let usda = translate(TEXTURED);
        assert!(usda.starts_with("#usda 1.0\n"), "{usda}");
        assert_block(&usda, "/MaterialX", &[]);
        assert_block(
            &usda,
            "/MaterialX/Materials/M",
            &[
                r#"uniform string config:mtlx:version = "1.38""#,
                "token outputs:mtlx:surface.connect = </MaterialX/Materials/M/SR.outputs:out>",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/SR",
            &[
                r#"uniform token info:id = "ND_standard_surface_surfaceshader""#,
                "float inputs:base = 0.8",
                "color3f inputs:base_color.connect = </MaterialX/Materials/M/NG.outputs:base_out>",
                "float inputs:specular_roughness.connect = </MaterialX/Materials/M/NG.outputs:rough_out>",
                "token outputs:out",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG",
            &[
                "color3f outputs:base_out.connect = </MaterialX/Materials/M/NG/base_image.outputs:out>",
                "float outputs:rough_out.connect = </MaterialX/Materials/M/NG/rough_image.outputs:out>",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG/base_image",
            &[
                r#"uniform token info:id = "ND_image_color3""#,
                r#"asset inputs:file = @tex/base.jpg@ (colorSpace = "srgb_texture")"#,
                "color3f outputs:out",
            ],
        );
        // No own colorspace: the document's applies.
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG/rough_image",
            &[
                r#"uniform token info:id = "ND_image_float""#,
                r#"asset inputs:file = @tex/rough.png@ (colorSpace = "lin_rec709")"#,
                "float outputs:out",
            ],
        );
        // Looks are not translated, and nothing but the Materials scope is under MaterialX.
        assert!(!usda.contains("\"L\"") && !usda.contains("MA"), "{usda}");
    }

    #[test]
    fn colorspace_comes_from_the_nearest_of_input_node_graph_and_document() {
        let usda = translate(
            r#"<materialx version="1.38" colorspace="doc_space">
  <nodegraph name="NG" colorspace="graph_space">
    <image name="own" type="color3"><input name="file" type="filename" value="a.png" colorspace="input_space" /></image>
    <image name="node" type="color3" colorspace="node_space"><input name="file" type="filename" value="b.png" /></image>
    <image name="graph" type="color3"><input name="file" type="filename" value="c.png" /></image>
    <output name="o" type="color3" nodename="own" />
  </nodegraph>
  <image name="top" type="color3"><input name="file" type="filename" value="d.png" /></image>
  <standard_surface name="SR" type="surfaceshader">
    <input name="base_color" type="color3" nodegraph="NG" />
    <input name="coat_color" type="color3" nodename="top" />
    <input name="thin_film_ior" type="float" value="1.5" colorspace="ignored_on_floats" />
  </standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        let file = |node: &str| {
            let lines = block(&usda, &format!("/MaterialX/Materials/M{node}")).expect(node);
            lines
                .into_iter()
                .find(|l| l.starts_with("asset inputs:file"))
                .expect(node)
        };
        assert_eq!(
            file("/NG/own"),
            r#"asset inputs:file = @a.png@ (colorSpace = "input_space")"#
        );
        assert_eq!(
            file("/NG/node"),
            r#"asset inputs:file = @b.png@ (colorSpace = "node_space")"#
        );
        assert_eq!(
            file("/NG/graph"),
            r#"asset inputs:file = @c.png@ (colorSpace = "graph_space")"#
        );
        assert_eq!(
            file("/top"),
            r#"asset inputs:file = @d.png@ (colorSpace = "doc_space")"#
        );
        let shader = block(&usda, "/MaterialX/Materials/M/SR").unwrap();
        assert!(
            shader.contains(&"float inputs:thin_film_ior = 1.5".to_string()),
            "{shader:?}"
        );
        // A graph connection without `output` is to the graph's first output.
        assert!(
            shader.contains(&"color3f inputs:base_color.connect = </MaterialX/Materials/M/NG.outputs:o>".to_string()),
            "{shader:?}"
        );

        let plain = translate(
            r#"<materialx version="1.38">
  <image name="i" type="color3"><input name="file" type="filename" value="x.png" /></image>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="i" /></surfacematerial>
</materialx>"#,
        );
        assert!(
            plain.contains("asset inputs:file = @x.png@\n"),
            "no colour space anywhere, no metadata:\n{plain}"
        );
    }

    #[test]
    fn the_nearest_fileprefix_is_prepended_to_filenames_only() {
        let usda = translate(
            r#"<materialx version="1.38" fileprefix="textures/">
  <nodegraph name="NG" fileprefix="graph/">
    <image name="in_graph" type="color3"><input name="file" type="filename" value="a.png" /></image>
    <image name="on_node" type="color3" fileprefix="node/"><input name="file" type="filename" value="b.png" /></image>
    <image name="on_input" type="color3" fileprefix="node/">
      <input name="file" type="filename" value="c.png" fileprefix="input/" />
      <input name="layer" type="string" value="d.png" />
    </image>
    <output name="o" type="color3" nodename="in_graph" />
  </nodegraph>
  <image name="top" type="color3"><input name="file" type="filename" value="e.png" /></image>
  <standard_surface name="SR" type="surfaceshader">
    <input name="base_color" type="color3" nodegraph="NG" output="o" />
    <input name="coat_color" type="color3" nodename="top" />
  </standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        for (node, file) in [
            ("/NG/in_graph", "graph/a.png"),
            ("/NG/on_node", "node/b.png"),
            ("/NG/on_input", "input/c.png"),
            ("/top", "textures/e.png"),
        ] {
            let lines = block(&usda, &format!("/MaterialX/Materials/M{node}")).expect(node);
            assert!(
                lines.contains(&format!("asset inputs:file = @{file}@")),
                "{node}: {lines:?}"
            );
        }
        let lines = block(&usda, "/MaterialX/Materials/M/NG/on_input").unwrap();
        assert!(
            lines.contains(&r#"string inputs:layer = "d.png""#.to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn interfacename_connects_to_the_node_graph_input() {
        let usda = translate(
            r#"<materialx version="1.38">
  <nodegraph name="NG">
    <input name="tint" type="color3" value="0.5, 0.25, 1" />
    <input name="texture" type="filename" value="t.png" />
    <image name="img" type="color3"><input name="file" type="filename" interfacename="texture" /></image>
    <multiply name="mul" type="color3">
      <input name="in1" type="color3" nodename="img" />
      <input name="in2" type="color3" interfacename="tint" />
    </multiply>
    <output name="out" type="color3" nodename="mul" />
  </nodegraph>
  <standard_surface name="SR" type="surfaceshader"><input name="base_color" type="color3" nodegraph="NG" output="out" /></standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG",
            &[
                "color3f inputs:tint = (0.5, 0.25, 1)",
                "asset inputs:texture = @t.png@",
                "color3f outputs:out.connect = </MaterialX/Materials/M/NG/mul.outputs:out>",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG/mul",
            &[
                r#"uniform token info:id = "ND_multiply_color3""#,
                "color3f inputs:in1.connect = </MaterialX/Materials/M/NG/img.outputs:out>",
                "color3f inputs:in2.connect = </MaterialX/Materials/M/NG.inputs:tint>",
                "color3f outputs:out",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG/img",
            &[
                r#"uniform token info:id = "ND_image_color3""#,
                "asset inputs:file.connect = </MaterialX/Materials/M/NG.inputs:texture>",
                "color3f outputs:out",
            ],
        );
    }

    #[test]
    fn output_names_an_output_of_a_multi_output_node_only() {
        let usda = translate(
            r#"<materialx version="1.38">
  <nodegraph name="NG">
    <constant name="c" type="color3"><input name="value" type="color3" value="1, 0.5, 0.25" /></constant>
    <separate3 name="sep" type="multioutput"><input name="in" type="color3" nodename="c" output="ignored" /></separate3>
    <combine3 name="swap" type="color3">
      <input name="in1" type="float" nodename="sep" output="outb" />
      <input name="in2" type="float" nodename="sep" output="outg" />
      <input name="in3" type="float" nodename="sep" output="outr" />
    </combine3>
    <output name="swapped" type="color3" nodename="swap" />
    <output name="red" type="float" nodename="sep" output="outr" />
  </nodegraph>
  <standard_surface name="SR" type="surfaceshader"><input name="base_color" type="color3" nodegraph="NG" output="swapped" /></standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG/sep",
            &[
                r#"uniform token info:id = "ND_separate3_multioutput""#,
                // `c` has a single output: `output` does not rename it.
                "color3f inputs:in.connect = </MaterialX/Materials/M/NG/c.outputs:out>",
                "float outputs:outb",
                "float outputs:outg",
                "float outputs:outr",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/NG/swap",
            &[
                r#"uniform token info:id = "ND_combine3_color3""#,
                "float inputs:in1.connect = </MaterialX/Materials/M/NG/sep.outputs:outb>",
                "float inputs:in2.connect = </MaterialX/Materials/M/NG/sep.outputs:outg>",
                "float inputs:in3.connect = </MaterialX/Materials/M/NG/sep.outputs:outr>",
                "color3f outputs:out",
            ],
        );
        let graph = block(&usda, "/MaterialX/Materials/M/NG").unwrap();
        assert!(
            graph.contains(&"float outputs:red.connect = </MaterialX/Materials/M/NG/sep.outputs:outr>".to_string()),
            "{graph:?}"
        );
    }

    #[test]
    fn declared_outputs_of_a_multi_output_node_are_typed() {
        let usda = translate(
            r#"<materialx version="1.38">
  <custom_split name="split" type="multioutput">
    <output name="first" type="vector2" />
    <output name="second" type="BSDF" />
  </custom_split>
  <standard_surface name="SR" type="surfaceshader"><input name="coat" type="vector2" nodename="split" output="first" /></standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/split",
            &[
                r#"uniform token info:id = "ND_custom_split_multioutput""#,
                "float2 outputs:first",
                "token outputs:second",
            ],
        );
    }

    #[test]
    fn malformed_xml_is_an_error_naming_the_document_line_and_column() {
        let xml = "<?xml version=\"1.0\"?>\n<materialx version=\"1.38\">\n  <image name=\"a\" type=\"color3\">\n</materialx>\n";
        let error = to_usda(xml, Path::new("/looks/broken.mtlx")).unwrap_err();
        assert!(error.starts_with("/looks/broken.mtlx: line 4, column 1: "), "{error}");
        assert!(error.contains("image") && !error.contains(" at 4:1"), "{error}");

        let unterminated = to_usda("<materialx>\n<a name=\"x", Path::new("u.mtlx")).unwrap_err();
        assert!(
            unterminated.starts_with("u.mtlx: line 2, column 11: "),
            "{unterminated}"
        );
        let unclosed = to_usda(
            "<materialx>\n  <image name=\"x\" type=\"float\" />\n",
            Path::new("c.mtlx"),
        )
        .unwrap_err();
        assert!(unclosed.starts_with("c.mtlx: line 3, column 1: "), "{unclosed}");
    }

    #[test]
    fn a_root_other_than_materialx_is_an_error() {
        let error = to_usda(
            "<?xml version=\"1.0\"?>\n\n  <COLLADA version=\"1.4\"/>",
            Path::new("a.mtlx"),
        )
        .unwrap_err();
        assert_eq!(
            error,
            "a.mtlx: line 3, column 3: the root element is <COLLADA>, not <materialx>"
        );
    }

    #[test]
    fn a_document_type_definition_is_refused_not_expanded() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE materialx [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<materialx version="1.38"><image name="i" type="color3"><input name="file" type="filename" value="&e;"/></image></materialx>"#;
        let error = to_usda(xml, Path::new("dtd.mtlx")).unwrap_err();
        assert!(error.starts_with("dtd.mtlx: line "), "{error}");
    }

    #[test]
    fn a_cycle_of_top_level_nodes_is_copied_once_and_translated_as_written() {
        let usda = translate(
            r#"<materialx version="1.38">
  <add name="a" type="float"><input name="in1" type="float" nodename="b" /></add>
  <add name="b" type="float"><input name="in1" type="float" nodename="a" /><input name="in2" type="float" nodename="b" /></add>
  <standard_surface name="SR" type="surfaceshader"><input name="base" type="float" nodename="a" /></standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        assert_eq!(usda.matches("def Shader \"a\"").count(), 1, "{usda}");
        assert_eq!(usda.matches("def Shader \"b\"").count(), 1, "{usda}");
        assert_block(
            &usda,
            "/MaterialX/Materials/M/b",
            &[
                r#"uniform token info:id = "ND_add_float""#,
                "float inputs:in1.connect = </MaterialX/Materials/M/a.outputs:out>",
                "float inputs:in2.connect = </MaterialX/Materials/M/b.outputs:out>",
                "float outputs:out",
            ],
        );
    }

    #[test]
    fn connections_to_missing_nodes_and_graphs_are_translated_as_written() {
        let usda = translate(
            r#"<materialx version="1.38">
  <standard_surface name="SR" type="surfaceshader">
    <input name="base" type="float" nodename="nowhere" />
    <input name="base_color" type="color3" nodegraph="no graph" output="o" />
  </standard_surface>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
  <surfacematerial name="Empty" type="material"><input name="surfaceshader" type="surfaceshader" nodename="gone" /></surfacematerial>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/SR",
            &[
                r#"uniform token info:id = "ND_standard_surface_surfaceshader""#,
                "float inputs:base.connect = </MaterialX/Materials/M/nowhere.outputs:out>",
                "color3f inputs:base_color.connect = </MaterialX/Materials/M/no_graph.outputs:o>",
                "token outputs:out",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/Empty",
            &[
                r#"uniform string config:mtlx:version = "1.38""#,
                "token outputs:mtlx:surface.connect = </MaterialX/Materials/Empty/gone.outputs:out>",
            ],
        );
    }

    #[test]
    fn invalid_names_become_distinct_identifiers() {
        let usda = translate(
            r#"<materialx version="1.38">
  <nodegraph name="2 graph">
    <constant name="a-b" type="float"><input name="value" type="float" value="1" /></constant>
    <constant name="a_b" type="float"><input name="value" type="float" value="2" /></constant>
    <add name="sum" type="float">
      <input name="in.1" type="float" nodename="a-b" />
      <input name="in2" type="float" nodename="a_b" />
    </add>
    <output name="out put" type="float" nodename="sum" />
  </nodegraph>
  <standard_surface name="shader:1" type="surfaceshader"><input name="base" type="float" nodegraph="2 graph" /></standard_surface>
  <surfacematerial name="M.1" type="material"><input name="surfaceshader" type="surfaceshader" nodename="shader:1" /></surfacematerial>
</materialx>"#,
        );
        let material = "/MaterialX/Materials/M_1";
        assert_block(
            &usda,
            material,
            &[
                r#"uniform string config:mtlx:version = "1.38""#,
                "token outputs:mtlx:surface.connect = </MaterialX/Materials/M_1/shader_1.outputs:out>",
            ],
        );
        assert_block(
            &usda,
            &format!("{material}/shader_1"),
            &[
                r#"uniform token info:id = "ND_standard_surface_surfaceshader""#,
                "float inputs:base.connect = </MaterialX/Materials/M_1/_2_graph.outputs:out_put>",
                "token outputs:out",
            ],
        );
        assert_block(
            &usda,
            &format!("{material}/_2_graph/sum"),
            &[
                r#"uniform token info:id = "ND_add_float""#,
                "float inputs:in_1.connect = </MaterialX/Materials/M_1/_2_graph/a_b.outputs:out>",
                "float inputs:in2.connect = </MaterialX/Materials/M_1/_2_graph/a_b_1.outputs:out>",
                "float outputs:out",
            ],
        );
        assert!(block(&usda, &format!("{material}/_2_graph/a_b"))
            .unwrap()
            .contains(&"float inputs:value = 1".to_string()));
        assert!(block(&usda, &format!("{material}/_2_graph/a_b_1"))
            .unwrap()
            .contains(&"float inputs:value = 2".to_string()));
    }

    #[test]
    fn identifiers_replace_invalid_characters_and_leading_digits() {
        assert_eq!(identifier("base_color"), "base_color");
        assert_eq!(identifier("a b-c.d:e"), "a_b_c_d_e");
        assert_eq!(identifier("1st"), "_1st");
        assert_eq!(identifier("é"), "_");
        assert_eq!(identifier(""), "_");
    }

    #[test]
    fn values_are_written_in_usda_syntax_or_left_out() {
        let usda = translate(
            r#"<materialx version="1.38">
  <custom name="n" type="surfaceshader">
    <input name="f" type="float" value=" .5 " />
    <input name="i" type="integer" value="-3" />
    <input name="b" type="boolean" value="true" />
    <input name="c4" type="color4" value="1,0.5 , 0.25,1." />
    <input name="v2" type="vector2" value="1e-3, 2" />
    <input name="m" type="matrix33" value="1,0,0, 0,1,0, 0,0,1" />
    <input name="s" type="string" value="say &quot;hi&quot; C:\tmp" />
    <input name="t" type="BSDF" value="x" />
    <input name="fa" type="floatarray" value="1, 2, 3" />
    <input name="v3a" type="vector3array" value="1,2,3, 4,5,6" />
    <input name="sa" type="stringarray" value="a, b" />
    <input name="at" type="filename" value="dir@x/t.png" />
    <input name="bad_count" type="color3" value="1, 2" />
    <input name="bad_number" type="float" value="big" />
    <input name="bad_bool" type="boolean" value="maybe" />
    <input name="nan" type="float" value="NaN" />
    <input name="f" type="float" value="2" />
  </custom>
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="n" /></surfacematerial>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/n",
            &[
                r#"uniform token info:id = "ND_custom_surfaceshader""#,
                "float inputs:f = 0.5",
                "int inputs:i = -3",
                "bool inputs:b = 1",
                "color4f inputs:c4 = (1, 0.5, 0.25, 1)",
                "float2 inputs:v2 = (0.001, 2)",
                "matrix3d inputs:m = ((1, 0, 0), (0, 1, 0), (0, 0, 1))",
                r#"string inputs:s = "say \"hi\" C:\\tmp""#,
                r#"token inputs:t = "x""#,
                "float[] inputs:fa = [1, 2, 3]",
                "float3[] inputs:v3a = [(1, 2, 3), (4, 5, 6)]",
                r#"string[] inputs:sa = ["a", "b"]"#,
                "asset inputs:at = @@@dir@x/t.png@@@",
                "color3f inputs:bad_count",
                "float inputs:bad_number",
                "bool inputs:bad_bool",
                "float inputs:nan",
                "token outputs:out",
            ],
        );
    }

    #[test]
    fn asset_paths_usda_cannot_hold_are_left_out() {
        assert_eq!(asset("a.png").as_deref(), Some("@a.png@"));
        assert_eq!(asset("").as_deref(), Some("@@"));
        assert_eq!(asset("a@b.png").as_deref(), Some("@@@a@b.png@@@"));
        assert_eq!(asset("a@@@b.png"), None);
        assert_eq!(asset("a@"), None);
        assert_eq!(asset("a\nb"), None);
    }

    #[test]
    fn graphs_and_top_level_nodes_are_copied_into_each_material_that_reaches_them() {
        let usda = translate(
            r#"<materialx version="1.38">
  <nodegraph name="Shared"><constant name="k" type="color3" /><output name="o" type="color3" nodename="k" /></nodegraph>
  <nodegraph name="Unused"><constant name="u" type="float" /><output name="o" type="float" nodename="u" /></nodegraph>
  <standard_surface name="A_S" type="surfaceshader"><input name="base_color" type="color3" nodegraph="Shared" output="o" /></standard_surface>
  <standard_surface name="B_S" type="surfaceshader"><input name="base_color" type="color3" nodegraph="Shared" output="o" /></standard_surface>
  <standard_surface name="C_S" type="surfaceshader"><input name="base" type="float" value="1" /></standard_surface>
  <displacement name="D" type="displacementshader"><input name="displacement" type="float" value="0.1" /></displacement>
  <surfacematerial name="A" type="material">
    <input name="surfaceshader" type="surfaceshader" nodename="A_S" />
    <input name="displacementshader" type="displacementshader" nodename="D" />
  </surfacematerial>
  <surfacematerial name="B" type="material"><input name="surfaceshader" type="surfaceshader" nodename="B_S" /></surfacematerial>
  <surfacematerial name="C" type="material"><input name="surfaceshader" type="surfaceshader" nodename="C_S" /></surfacematerial>
</materialx>"#,
        );
        let m = "/MaterialX/Materials";
        for material in ["A", "B"] {
            assert_block(
                &usda,
                &format!("{m}/{material}/Shared"),
                &[&format!(
                    "color3f outputs:o.connect = <{m}/{material}/Shared/k.outputs:out>"
                )],
            );
            assert!(block(&usda, &format!("{m}/{material}/Shared/k")).is_some(), "{usda}");
        }
        assert!(block(&usda, &format!("{m}/A/D")).is_some(), "{usda}");
        assert!(block(&usda, &format!("{m}/A/B_S")).is_none(), "{usda}");
        assert!(block(&usda, &format!("{m}/C/Shared")).is_none(), "{usda}");
        assert!(!usda.contains("Unused"), "{usda}");
        assert_block(
            &usda,
            &format!("{m}/A"),
            &[
                r#"uniform string config:mtlx:version = "1.38""#,
                "token outputs:mtlx:surface.connect = </MaterialX/Materials/A/A_S.outputs:out>",
                "token outputs:mtlx:displacement.connect = </MaterialX/Materials/A/D.outputs:out>",
            ],
        );
        assert_block(
            &usda,
            &format!("{m}/A/D"),
            &[
                r#"uniform token info:id = "ND_displacement_displacementshader""#,
                "float inputs:displacement = 0.1",
                "token outputs:out",
            ],
        );
    }

    #[test]
    fn a_node_s_nodedef_is_its_id() {
        let usda = translate(
            r#"<materialx version="1.38">
  <standard_surface name="SR" type="surfaceshader" nodedef="ND_standard_surface_surfaceshader_100" />
  <surfacematerial name="M" type="material"><input name="surfaceshader" type="surfaceshader" nodename="SR" /></surfacematerial>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/M/SR",
            &[
                r#"uniform token info:id = "ND_standard_surface_surfaceshader_100""#,
                "token outputs:out",
            ],
        );
    }

    #[test]
    fn a_1_37_material_with_a_shaderref_becomes_a_material_with_its_shader() {
        let usda = translate(
            r#"<materialx version="1.37">
  <nodegraph name="NG">
    <image name="img" type="color3"><parameter name="file" type="filename" value="wood.png" /></image>
    <output name="out" type="color3" nodename="img" />
  </nodegraph>
  <material name="Wood">
    <shaderref name="SR_wood" node="standard_surface">
      <bindinput name="base" type="float" value="0.9" />
      <bindinput name="base_color" type="color3" nodegraph="NG" output="out" />
    </shaderref>
  </material>
  <material name="Inherited"><materialinherit name="i" material="Wood" /></material>
</materialx>"#,
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/Wood",
            &[
                r#"uniform string config:mtlx:version = "1.37""#,
                "token outputs:mtlx:surface.connect = </MaterialX/Materials/Wood/SR_wood.outputs:out>",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/Wood/SR_wood",
            &[
                r#"uniform token info:id = "ND_standard_surface_surfaceshader""#,
                "float inputs:base = 0.9",
                "color3f inputs:base_color.connect = </MaterialX/Materials/Wood/NG.outputs:out>",
                "token outputs:out",
            ],
        );
        assert_block(
            &usda,
            "/MaterialX/Materials/Wood/NG/img",
            &[
                r#"uniform token info:id = "ND_image_color3""#,
                "asset inputs:file = @wood.png@",
                "color3f outputs:out",
            ],
        );
        assert!(
            !usda.contains("Inherited"),
            "a material with no shaderref is left out:\n{usda}"
        );
    }

    #[test]
    fn a_document_without_materials_is_an_empty_materials_scope() {
        let usda = translate("<materialx version=\"1.38\"><nodedef name=\"ND_x\" node=\"x\" /></materialx>");
        assert_block(&usda, "/MaterialX/Materials", &[]);
        assert!(!usda.contains("ND_x"), "{usda}");
    }
}
