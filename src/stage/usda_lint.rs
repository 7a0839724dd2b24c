//! usda text that pxr's parser rejects and openusd's reads without a word: prim and variant names
//! that are not identifiers (a RIGHT-TO-LEFT OVERRIDE hides what a path really says), list and
//! tuple elements without a comma between them, time samples without a comma, and dictionary,
//! metadata or property statements run together on one line. Each case was checked against
//! `Sdf.Layer.FindOrOpen`. usdrender still reads such a layer (as openusd does); the first finding
//! becomes one warning naming the file and line, so a stage that only opens here is not mistaken
//! for one that opens everywhere.
//!
//! One linear pass over the bytes: no recursion (the open brackets are a stack on the heap), no
//! backtracking, so a hostile layer costs no more to check than to read.

/// What pxr would reject, and where (1-based line).
#[derive(Debug, PartialEq)]
pub struct Finding {
    pub line: usize,
    pub what: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    /// A number, keyword, type or name (`1.5`, `def`, `float3`, `xformOp:translate`, `1:`).
    Atom,
    Str,
    Asset,
    Path,
    Open(u8),
    Close(u8),
    Comma,
    Semi,
    Eq,
}

/// What an open bracket holds, which decides what must separate its entries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A prim body or the layer itself: statements, one per line (`;` also ends one).
    Body,
    /// `( ... )` after a prim or property, a layer offset: entries one per line (or `;`).
    Meta,
    /// `{ ... }` assigned to a dictionary: entries one per line (or `;`), never `,`.
    Dict,
    /// `{ ... }` assigned to `.timeSamples`: `time: value` entries, each ended by a comma.
    TimeSamples,
    /// `[ ... ]` value list: elements separated by commas.
    List,
    /// `( ... )` value tuple (a vector, a matrix row): elements separated by commas.
    Tuple,
    /// `variantSet "v" = { ... }`: variant names, each with its body.
    VariantSet,
    /// Anything not checked (a spline's own syntax): brackets only counted.
    Opaque,
}

/// One open bracket's state.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    kind: Kind,
    /// Body/Meta/Dict/TimeSamples: an `=` (or a time's `:`) came and its value has not.
    after_eq: bool,
    /// Body/Meta/Dict/TimeSamples: a value is complete; only a separator may follow. List/Tuple:
    /// an element is complete; a comma must come before the next.
    done: bool,
    /// The last token of the completed value or element (an asset may be followed by a path and
    /// a layer offset, all one element).
    last: Tok,
}

impl Ctx {
    fn new(kind: Kind) -> Ctx {
        Ctx {
            kind,
            after_eq: false,
            done: false,
            last: Tok::Comma,
        }
    }
}

/// Bytes that end an atom.
fn ends_atom(b: u8) -> bool {
    b.is_ascii_whitespace() || b"[](){}<>=,;@\"'#".contains(&b)
}

/// Whether `name` is an identifier as pxr reads prim names: a letter (XID_Start) or `_`, then
/// letters, digits and marks (XID_Continue).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || unicode_ident::is_xid_start(c))
        && chars.all(unicode_ident::is_xid_continue)
}

/// Whether `name` is a variant name pxr reads: identifier characters, `|` and `-`, any first.
fn is_variant_name(name: &str) -> bool {
    name.chars()
        .all(|c| c == '|' || c == '-' || c == '_' || unicode_ident::is_xid_continue(c))
}

/// The first thing in `text` (a usda layer) pxr's parser would reject that this scan knows of.
pub fn pxr_rejects(text: &[u8]) -> Option<Finding> {
    let mut scan = Scan {
        text,
        stack: vec![Ctx::new(Kind::Body)],
        prev: Tok::Semi,
        prev_atom: (0, 0),
        lhs: (Tok::Semi, 0, 0),
        prim_name: false,
    };
    let mut i = 0;
    let mut prev_end = 0;
    while i < text.len() {
        let b = text[i];
        let start = i;
        let tok = match b {
            _ if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'#' => {
                i = skip_line(text, i);
                continue;
            }
            b'/' if text.get(i + 1) == Some(&b'/') => {
                i = skip_line(text, i);
                continue;
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i = find(text, i + 2, b"*/").map_or(text.len(), |e| e + 2);
                continue;
            }
            b'"' | b'\'' => {
                let quote = [b, b, b];
                let delim: &[u8] = if text[i..].starts_with(&quote) {
                    &quote
                } else {
                    &quote[..1]
                };
                i = close_of(text, i + delim.len(), delim);
                Tok::Str
            }
            b'@' => {
                i = asset_end(text, i);
                Tok::Asset
            }
            b'<' => {
                i = text[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(text.len(), |e| i + e + 1);
                Tok::Path
            }
            b'[' | b'(' | b'{' => {
                i += 1;
                // `int[]`: a type's array suffix, not a list.
                if b == b'[' && start == prev_end && scan.prev == Tok::Atom && text.get(i) == Some(&b']') {
                    i += 1;
                    prev_end = i;
                    continue;
                }
                Tok::Open(b)
            }
            b']' | b')' | b'}' => {
                i += 1;
                Tok::Close(b)
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b';' => {
                i += 1;
                Tok::Semi
            }
            b'=' => {
                i += 1;
                Tok::Eq
            }
            _ => {
                while i < text.len() && !ends_atom(text[i]) && !text[i..].starts_with(b"//") {
                    i += 1;
                }
                i = i.max(start + 1);
                Tok::Atom
            }
        };
        let newline = text[prev_end..start].contains(&b'\n');
        if let Err(what) = scan.token(tok, start, i, newline) {
            let line = 1 + text[..start].iter().filter(|&&c| c == b'\n').count();
            return Some(Finding { line, what });
        }
        prev_end = i;
    }
    None
}

/// The index after the end of the line at `i`.
fn skip_line(text: &[u8], i: usize) -> usize {
    text[i..].iter().position(|&c| c == b'\n').map_or(text.len(), |e| i + e)
}

fn find(text: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    text.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|e| from + e)
}

/// The index after the `delim` closing a string or asset whose body starts at `from`, honouring
/// backslash escapes; the end of the text when unterminated.
fn close_of(text: &[u8], from: usize, delim: &[u8]) -> usize {
    let mut i = from;
    while i < text.len() {
        if text[i] == b'\\' {
            i += 2;
            continue;
        }
        if text[i..].starts_with(delim) {
            return i + delim.len();
        }
        i += 1;
    }
    text.len()
}

/// The index after the asset path starting at `i`: `@...@` has no escapes; `@@@...@@@` ends at
/// the first `@@@` not escaped as `\@@@`.
fn asset_end(text: &[u8], i: usize) -> usize {
    if !text[i..].starts_with(b"@@@") {
        return text[i + 1..]
            .iter()
            .position(|&c| c == b'@')
            .map_or(text.len(), |e| i + 1 + e + 1);
    }
    let mut from = i + 3;
    while let Some(k) = find(text, from, b"@@@") {
        if text[k - 1] != b'\\' {
            return k + 3;
        }
        from = k + 3;
    }
    text.len()
}

struct Scan<'a> {
    text: &'a [u8],
    stack: Vec<Ctx>,
    /// The previous token.
    prev: Tok,
    /// The previous atom's range.
    prev_atom: (usize, usize),
    /// The token before the last `=` and its range: what is being assigned.
    lhs: (Tok, usize, usize),
    /// After `def`, `over` or `class` (and maybe a type): the next string names a prim.
    prim_name: bool,
}

impl Scan<'_> {
    fn top(&mut self) -> &mut Ctx {
        // The root context is never popped.
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    /// One token in the open context; an error says what pxr would reject.
    fn token(&mut self, tok: Tok, start: usize, end: usize, newline: bool) -> Result<(), String> {
        let result = self.check(tok, start, end, newline);
        if tok == Tok::Atom {
            self.prev_atom = (start, end);
        }
        self.prev = tok;
        result
    }

    fn check(&mut self, tok: Tok, start: usize, end: usize, newline: bool) -> Result<(), String> {
        let text = self.text;
        let ctx = *self.top();
        if let Tok::Close(_) = tok {
            if self.stack.len() > 1 {
                self.stack.pop();
                let parent = self.top();
                match ctx.kind {
                    // A prim body or its metadata completes no value; a property's metadata or a
                    // layer offset ends the value it follows.
                    Kind::Body | Kind::Meta => {
                        if parent.done {
                            parent.last = tok;
                        }
                    }
                    // A list, tuple, dictionary, time samples or variant set is a whole value.
                    _ => {
                        parent.done = true;
                        parent.after_eq = false;
                        parent.last = tok;
                    }
                }
            }
            self.prim_name = false;
            return Ok(());
        }
        match ctx.kind {
            Kind::Opaque => {
                if let Tok::Open(_) = tok {
                    self.stack.push(Ctx::new(Kind::Opaque));
                }
                return Ok(());
            }
            Kind::List | Kind::Tuple => {
                let what = if ctx.kind == Kind::List { "list" } else { "tuple" };
                if tok == Tok::Comma {
                    self.top().done = false;
                    return Ok(());
                }
                if ctx.done {
                    match (ctx.last, tok) {
                        // `@layer.usda@</prim> (offset = 1)`: one element.
                        (Tok::Asset, Tok::Path) => {
                            self.top().last = Tok::Path;
                            return Ok(());
                        }
                        (Tok::Asset | Tok::Path, Tok::Open(b'(')) => {
                            self.stack.push(Ctx::new(Kind::Meta));
                            return Ok(());
                        }
                        _ => return Err(format!("no comma between two elements of a {what}")),
                    }
                }
                self.element(tok);
                return Ok(());
            }
            Kind::VariantSet => {
                match tok {
                    Tok::Str => {
                        let name = String::from_utf8_lossy(&text[start + 1..end.saturating_sub(1).max(start + 1)]);
                        if !is_variant_name(&name) {
                            return Err(format!("variant name {name:?} has characters a variant name cannot"));
                        }
                    }
                    Tok::Open(b'{') => self.stack.push(Ctx::new(Kind::Body)),
                    Tok::Open(_) => self.stack.push(Ctx::new(Kind::Meta)),
                    _ => {}
                }
                return Ok(());
            }
            Kind::Body | Kind::Meta | Kind::Dict | Kind::TimeSamples => {}
        }
        // Statement and entry contexts.
        if ctx.done {
            let tail = matches!(ctx.last, Tok::Asset | Tok::Path);
            match (ctx.kind, tok) {
                (_, Tok::Semi) if ctx.kind != Kind::TimeSamples => {
                    self.top().done = false;
                    return Ok(());
                }
                (Kind::TimeSamples, Tok::Comma) | (Kind::Meta, Tok::Comma) => {
                    self.top().done = false;
                    return Ok(());
                }
                // `references = @a.usda@</b>`: an asset then its prim path.
                (_, Tok::Path) if ctx.last == Tok::Asset && !newline => {
                    self.top().last = Tok::Path;
                    return Ok(());
                }
                // A property's metadata, or a layer offset after an asset or path.
                (Kind::Body, Tok::Open(b'(')) | (_, Tok::Open(b'(')) if (ctx.kind == Kind::Body || tail) => {
                    self.stack.push(Ctx::new(Kind::Meta));
                    return Ok(());
                }
                (Kind::TimeSamples, _) => return Err("no comma after a time sample".into()),
                (Kind::Dict, Tok::Comma) => {
                    return Err("a comma between dictionary entries (pxr wants a new line or `;`)".into())
                }
                _ if newline => self.top().done = false,
                (Kind::Dict, _) => return Err("two dictionary entries on one line".into()),
                (Kind::Meta, _) => return Err("two metadata entries on one line".into()),
                _ => return Err("two statements on one line".into()),
            }
        }
        match tok {
            Tok::Eq => {
                self.lhs = (self.prev, self.prev_atom.0, self.prev_atom.1);
                let top = self.top();
                top.after_eq = true;
                self.prim_name = false;
                return Ok(());
            }
            // A time sample's `1:` (or `1 :`).
            Tok::Atom if ctx.kind == Kind::TimeSamples && text[end - 1] == b':' => {
                self.top().after_eq = true;
                return Ok(());
            }
            _ => {}
        }
        if ctx.after_eq {
            match tok {
                Tok::Open(b'{') => {
                    let (what, from, to) = self.lhs;
                    let lhs = &text[from..to];
                    let kind = match what {
                        Tok::Str if ctx.kind == Kind::Body => Kind::VariantSet,
                        Tok::Atom if lhs.ends_with(b".timeSamples") => Kind::TimeSamples,
                        Tok::Atom if lhs.ends_with(b".spline") => Kind::Opaque,
                        _ => Kind::Dict,
                    };
                    self.top().after_eq = false;
                    self.stack.push(Ctx::new(kind));
                }
                _ => {
                    self.top().after_eq = false;
                    self.element(tok);
                }
            }
            return Ok(());
        }
        // Not a value: statement words, names, prim bodies and metadata.
        match tok {
            Tok::Open(b'{') => self.stack.push(Ctx::new(Kind::Body)),
            Tok::Open(b'(') => self.stack.push(Ctx::new(Kind::Meta)),
            Tok::Open(_) => self.stack.push(Ctx::new(Kind::List)),
            _ => {}
        }
        if ctx.kind == Kind::Body {
            match tok {
                Tok::Atom if matches!(&text[start..end], b"def" | b"over" | b"class") => self.prim_name = true,
                Tok::Atom if self.prim_name => {} // the prim's type
                Tok::Str if self.prim_name => {
                    self.prim_name = false;
                    let name = String::from_utf8_lossy(&text[start + 1..end.saturating_sub(1).max(start + 1)]);
                    if !is_identifier(&name) {
                        return Err(format!("prim name {name:?} is not an identifier"));
                    }
                }
                _ => self.prim_name = false,
            }
        }
        Ok(())
    }

    /// A value or element token (or the opening of one) in the open context.
    fn element(&mut self, tok: Tok) {
        match tok {
            Tok::Open(b'[') => self.stack.push(Ctx::new(Kind::List)),
            Tok::Open(b'(') => self.stack.push(Ctx::new(Kind::Tuple)),
            Tok::Open(_) => self.stack.push(Ctx::new(Kind::Opaque)),
            Tok::Atom | Tok::Str | Tok::Asset | Tok::Path => {
                let top = self.top();
                top.done = true;
                top.last = tok;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_identifier, pxr_rejects};

    /// Layers checked with pxr (usd-core 26.11, `Sdf.Layer.FindOrOpen`): `(text, pxr opens it)`.
    const CASES: &[(&str, &str, bool)] = &[
        ("rlo prim", "def Xform \"a\u{202e}b\"\n{\n}\n", false),
        ("rlo class", "class \"a\u{202e}b\"\n{\n}\n", false),
        ("rlo over", "over \"a\u{202e}b\"\n{\n}\n", false),
        ("zwj prim", "def Xform \"a\u{200d}b\"\n{\n}\n", true),
        ("zwnj prim", "def Xform \"a\u{200c}b\"\n{\n}\n", true),
        ("greek prim", "def Xform \"\u{3b1}\u{3b2}\"\n{\n}\n", true),
        ("leading digit", "def Xform \"\u{661}a\"\n{\n}\n", false),
        ("nested rlo", "def Xform \"a\"\n{\n    def \"b\u{202e}c\"\n    {\n    }\n}\n", false),
        ("array", "def Xform \"a\"\n{\n    int[] x = [1 2 3]\n}\n", false),
        ("array ok", "def Xform \"a\"\n{\n    int[] x = [1, 2, 3]\n}\n", true),
        ("array newline", "def Xform \"a\"\n{\n    int[] x = [1\n 2, 3]\n}\n", false),
        ("tuples", "def Xform \"a\"\n{\n    float3[] x = [(1,2,3) (4,5,6)]\n}\n", false),
        ("tuple", "def Xform \"a\"\n{\n    float3 x = (1 2 3)\n}\n", false),
        ("tokens", "def Xform \"a\"\n{\n    token[] x = [\"a\" \"b\"]\n}\n", false),
        ("targets", "def Xform \"a\"\n{\n    rel r = [</a> </b>]\n}\n", false),
        ("matrix", "def Xform \"a\"\n{\n    matrix4d xformOp:transform = ( (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1) )\n}\n", true),
        ("matrix rows", "def Xform \"a\"\n{\n    matrix4d xformOp:transform = ( (1, 0, 0, 0) (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1) )\n}\n", false),
        ("samples ok", "def Xform \"a\"\n{\n    double x.timeSamples = {\n 1: 2,\n 3: 4,\n }\n}\n", true),
        ("samples", "def Xform \"a\"\n{\n    double x.timeSamples = { 1: 2 3: 4 }\n}\n", false),
        ("samples newline", "def Xform \"a\"\n{\n    double x.timeSamples = {\n 1: 2\n 3: 4\n }\n}\n", false),
        ("sample tuples", "def Xform \"a\"\n{\n    double3 x.timeSamples = { 1: (1,2,3), 2: (4,5,6) }\n}\n", true),
        ("sample tuples run", "def Xform \"a\"\n{\n    double3 x.timeSamples = { 1: (1,2,3) 2: (4,5,6) }\n}\n", false),
        ("trailing comma", "def Xform \"a\"\n{\n    int[] x = [1, 2, 3,]\n}\n", true),
        ("dictionary", "def Xform \"a\" (\n    customData = { int a = 1 int b = 2 }\n)\n{\n}\n", false),
        ("dictionary lines", "def Xform \"a\" (\n    customData = { int a = 1\n int b = 2 }\n)\n{\n}\n", true),
        ("dictionary semicolon", "def Xform \"a\" (\n    customData = { int a = 1; int b = 2 }\n)\n{\n}\n", true),
        ("dictionary comma", "def Xform \"a\" (\n    customData = { int a = 1, int b = 2 }\n)\n{\n}\n", false),
        ("dictionaries", "def Xform \"a\" (\n    customData = { dictionary a = { } dictionary b = { } }\n)\n{\n}\n", false),
        ("dictionary nested", "def Xform \"a\" (\n    customData = {\n string[] a = [\"x\", \"y\"]\n dictionary d = {\n int q = 1\n }\n }\n)\n{\n}\n", true),
        ("schemas", "def Xform \"a\" (\n    apiSchemas = [\"A\" \"B\"]\n)\n{\n}\n", false),
        ("schemas ok", "def Xform \"a\" (\n    apiSchemas = [\"A\", \"B\"]\n)\n{\n}\n", true),
        ("metadata", "def Xform \"a\" (\n    active = true kind = \"x\"\n)\n{\n}\n", false),
        ("references", "def Xform \"a\" (\n    prepend references = [@./b.usda@</x> (offset = 1; scale = 2), @./c.usda@ (offset = 2)]\n)\n{\n}\n", true),
        ("references run", "def Xform \"a\" (\n    prepend references = [@./b.usda@</x> @./c.usda@]\n)\n{\n}\n", false),
        ("sublayers", "(\n    subLayers = [@a.usda@ @b.usda@]\n)\n", false),
        ("sublayer offsets", "(\n    subLayers = [@./b.usda@ (offset = 1), @./c.usda@]\n)\n", true),
        ("statements", "def Xform \"a\"\n{\n    int a = 1 int b = 2\n}\n", false),
        ("rlo variant", "def Xform \"a\" (\n    variantSets = \"v\"\n)\n{\n    variantSet \"v\" = {\n        \"x\u{202e}\" {\n        }\n    }\n}\n", false),
        ("variant names", "def Xform \"a\" (\n    variantSets = \"v\"\n)\n{\n    variantSet \"v\" = {\n        \"a-b\" {\n        }\n        \"1|x\" (\n            doc = \"d\"\n        ) {\n            int q = 1\n        }\n    }\n}\n", true),
        ("spline", "def Xform \"a\"\n{\n    double x.spline = {\n        bezier,\n        pre: linear,\n        post: sloped(0.57),\n        7: 5.5 & 7.21; pre (2, 0); post curve (1.5, -0.3),\n    }\n}\n", true),
        ("connections", "def Xform \"a\"\n{\n    float inputs:a.connect = [</a.outputs:b> </a.outputs:c>]\n}\n", false),
        ("escaped asset", "def Shader \"a\"\n{\n    asset inputs:file = @@@0/teapot_\\\\@@@n.png@@@\n    float2 inputs:st = (0, 0)\n}\n", true),
        ("strings lines", "def Xform \"a\"\n{\n    string[] x = [\n \"a\",\n \"b\"\n ]\n}\n", true),
    ];

    #[test]
    fn finds_what_pxr_rejects_and_nothing_it_reads() {
        for (name, body, pxr_opens) in CASES {
            let text = format!("#usda 1.0\n{body}");
            let found = pxr_rejects(text.as_bytes());
            assert_eq!(found.is_none(), *pxr_opens, "{name}: {found:?}\n{text}");
        }
    }

    #[test]
    fn names_the_line() {
        let text = "#usda 1.0\ndef Xform \"a\"\n{\n    int a = 1\n    int[] x = [1 2]\n}\n";
        assert_eq!(pxr_rejects(text.as_bytes()).map(|f| f.line), Some(5));
    }

    #[test]
    fn reads_the_scenes_of_this_repository_without_a_finding() {
        let mut seen = 0;
        let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenes")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "usda") {
                    let text = std::fs::read(&path).unwrap();
                    assert_eq!(pxr_rejects(&text), None, "{}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen > 5, "{seen} scenes");
    }

    #[test]
    fn identifiers_as_pxr_reads_them() {
        for ok in ["a", "_a1", "caf\u{e9}", "\u{3b1}", "a\u{200d}b"] {
            assert!(is_identifier(ok), "{ok:?}");
        }
        for bad in ["", "1a", "a b", "a-b", "a\u{202e}b", "a.b"] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
    }

    #[test]
    fn never_panics_and_stays_linear_on_arbitrary_text() {
        let alphabet: Vec<char> = "\"'@<>=.,;:[](){}#/*\\\n 01azdefclassover\u{202e}".chars().collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..3000 {
            let mut text = String::from("#usda 1.0\n");
            for _ in 0..(state % 80) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = pxr_rejects(text.as_bytes());
        }
        // A million nested brackets: a heap stack, not recursion.
        let deep = "#usda 1.0\ndef \"a\"\n{\n    int[] x = ".to_string() + &"[".repeat(1_000_000);
        assert_eq!(pxr_rejects(deep.as_bytes()), None);
    }
}
