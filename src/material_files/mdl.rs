//! MDL modules (`.mdl`): the exported materials of a module, with their parameters and bodies
//! as expressions, for [`crate::stage::material`] to translate.
//!
//! This reads the part of MDL a look module is written in: `mdl`, `import` and `using` lines,
//! exported materials with typed parameters and defaults (or `(*)`, the parameters of the
//! material called), annotations (skipped), `let { ... } in` bindings (substituted), calls with
//! named or positional arguments, literals, `color(...)`/`float3(...)`, `texture_2d(path,
//! gamma)`, enum values and arithmetic (folded where both sides are known). Functions, structs,
//! enums and other declarations are skipped whole. It does not type-check or run MDL: a body
//! this cannot reduce is reported as [`Body::Unsupported`], saying why.

use std::collections::HashMap;

/// Deepest nesting of expressions read; deeper is refused (a hostile module cannot overflow the
/// stack).
pub const MAX_DEPTH: usize = 64;

/// A module's exported materials, in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub materials: Vec<ExportedMaterial>,
}

impl Module {
    /// The material named `name` (exported or not).
    pub fn material(&self, name: &str) -> Option<&ExportedMaterial> {
        self.materials.iter().find(|m| m.name == name)
    }
}

/// One material of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedMaterial {
    pub name: String,
    pub exported: bool,
    /// `(*)`: its parameters are those of the material its body calls.
    pub star: bool,
    pub parameters: Vec<Parameter>,
    pub body: Body,
}

impl ExportedMaterial {
    /// Parameter `name`'s default.
    pub fn default_of(&self, name: &str) -> Option<&Expr> {
        self.parameters
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.default.as_ref())
    }
}

/// A material parameter: its type as written, name and default.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub ty: String,
    pub name: String,
    pub default: Option<Expr>,
}

/// What a material's body is.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Another material called with arguments (`OmniPBR(diffuse_color_constant: ...)`);
    /// `callee` is its last name, `qualified` as written.
    Call {
        callee: String,
        qualified: String,
        args: Vec<(String, Expr)>,
    },
    /// A `material(...)` whose surface is a diffuse BSDF at most.
    Simple(SimpleMaterial),
    /// Anything else, with why.
    Unsupported(String),
}

/// The parts of a `material(...)` constructor drawn; each an expression over the parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleMaterial {
    /// `df::diffuse_reflection_bsdf`'s tint (black when the surface has no BSDF).
    pub tint: Expr,
    /// `material_emission`'s intensity (radiant exitance), black without emission.
    pub emission_intensity: Expr,
    pub cutout_opacity: Expr,
    pub thin_walled: Expr,
}

/// An expression, reduced as far as literals allow.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Float(f32),
    Color([f32; 3]),
    Bool(bool),
    Int(i64),
    Str(String),
    /// `texture_2d(path, gamma)`: `srgb` is `Some(true)` for `gamma_srgb`, `Some(false)` for
    /// `gamma_linear`, `None` for the default (decided by the file).
    Texture {
        path: String,
        srgb: Option<bool>,
    },
    /// A material parameter, by name.
    Param(String),
    /// An enum value or other name (`intensity_radiant_exitance`, `::tex::gamma_srgb`).
    Enum(String),
    /// Arithmetic not folded yet (a side is a parameter).
    Binary(char, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    /// A call not reduced (`df::diffuse_edf()`, `material_surface(...)`, a texture lookup).
    Call {
        callee: String,
        args: Vec<(Option<String>, Expr)>,
    },
    /// What is not read (member access, conditionals, arrays), as written in short.
    Other(String),
}

impl Expr {
    /// The colour this is, a float given as grey.
    pub fn as_color(&self) -> Option<[f32; 3]> {
        match self {
            Expr::Color(c) => Some(*c),
            Expr::Float(x) => Some([*x; 3]),
            Expr::Int(i) => Some([*i as f32; 3]),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f32> {
        match self {
            Expr::Float(x) => Some(*x),
            Expr::Int(i) => Some(*i as f32),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Expr::Bool(b) => Some(*b),
            Expr::Int(i) => Some(*i != 0),
            _ => None,
        }
    }

    /// The argument `name` of a call (named, or at `position` when positional).
    pub fn arg(&self, name: &str, position: usize) -> Option<&Expr> {
        let Expr::Call { args, .. } = self else { return None };
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(name))
            .or_else(|| args.get(position).filter(|(n, _)| n.is_none()))
            .map(|(_, e)| e)
    }

    /// The last name of a call's callee (`df::diffuse_edf` -> `diffuse_edf`).
    pub fn callee(&self) -> Option<&str> {
        match self {
            Expr::Call { callee, .. } => Some(last_name(callee)),
            _ => None,
        }
    }
}

/// The last segment of a qualified name.
pub fn last_name(qualified: &str) -> &str {
    qualified.rsplit("::").next().unwrap_or(qualified)
}

/// `expr` with each parameter replaced by what `lookup` gives for it (left as it is when
/// `None`), then folded: arithmetic on literals, `color(...)`, `float3(...)`, `texture_2d(...)`.
pub fn resolve(expr: &Expr, lookup: &dyn Fn(&str) -> Option<Expr>) -> Expr {
    resolve_at(expr, lookup, 0)
}

fn resolve_at(expr: &Expr, lookup: &dyn Fn(&str) -> Option<Expr>, depth: usize) -> Expr {
    if depth > MAX_DEPTH {
        return Expr::Other("nesting too deep".into());
    }
    match expr {
        Expr::Param(name) => match lookup(name) {
            // A default may name other parameters; a parameter naming itself stops at the cap.
            Some(value) if &value != expr => resolve_at(&value, lookup, depth + 1),
            _ => expr.clone(),
        },
        Expr::Binary(op, a, b) => fold_binary(*op, resolve_at(a, lookup, depth + 1), resolve_at(b, lookup, depth + 1)),
        Expr::Neg(a) => fold_neg(resolve_at(a, lookup, depth + 1)),
        Expr::Call { callee, args } => fold_call(
            callee.clone(),
            args.iter()
                .map(|(n, e)| (n.clone(), resolve_at(e, lookup, depth + 1)))
                .collect(),
        ),
        _ => expr.clone(),
    }
}

fn fold_binary(op: char, a: Expr, b: Expr) -> Expr {
    let scalar = |x: f32, y: f32| match op {
        '*' => Some(x * y),
        '/' if y != 0.0 => Some(x / y),
        '+' => Some(x + y),
        '-' => Some(x - y),
        _ => None,
    };
    let folded = match (&a, &b) {
        (Expr::Int(x), Expr::Int(y)) if op != '/' => scalar(*x as f32, *y as f32).map(|v| Expr::Int(v as i64)),
        (Expr::Float(_) | Expr::Int(_), Expr::Float(_) | Expr::Int(_)) => {
            scalar(a.as_float().unwrap_or(0.0), b.as_float().unwrap_or(0.0)).map(Expr::Float)
        }
        (Expr::Color(_), Expr::Color(_) | Expr::Float(_) | Expr::Int(_))
        | (Expr::Float(_) | Expr::Int(_), Expr::Color(_)) => {
            let (x, y) = (a.as_color().unwrap_or_default(), b.as_color().unwrap_or_default());
            let c: Option<Vec<f32>> = (0..3).map(|i| scalar(x[i], y[i])).collect();
            c.map(|c| Expr::Color([c[0], c[1], c[2]]))
        }
        _ => None,
    };
    folded.unwrap_or_else(|| Expr::Binary(op, Box::new(a), Box::new(b)))
}

fn fold_neg(a: Expr) -> Expr {
    match a {
        Expr::Float(x) => Expr::Float(-x),
        Expr::Int(i) => Expr::Int(-i),
        Expr::Color(c) => Expr::Color(c.map(|v| -v)),
        other => Expr::Neg(Box::new(other)),
    }
}

fn fold_call(callee: String, args: Vec<(Option<String>, Expr)>) -> Expr {
    let call = Expr::Call { callee, args };
    let Some(name) = call.callee() else { return call };
    match name {
        "color" | "float3" => {
            let Expr::Call { args, .. } = &call else { return call };
            let values: Option<Vec<f32>> = args.iter().map(|(_, e)| e.as_float()).collect();
            match values.as_deref() {
                Some([v]) => Expr::Color([*v; 3]),
                Some([r, g, b]) => Expr::Color([*r, *g, *b]),
                // color(float3 ...) or color(color ...): the value itself.
                _ if args.len() == 1 => match &args[0].1 {
                    Expr::Color(c) => Expr::Color(*c),
                    _ => call,
                },
                _ => call,
            }
        }
        "float" if matches!(call.arg("", 0), Some(Expr::Int(_) | Expr::Float(_))) => {
            Expr::Float(call.arg("", 0).and_then(Expr::as_float).unwrap_or(0.0))
        }
        "texture_2d" => {
            let path = match call.arg("name", 0) {
                Some(Expr::Str(s)) => s.clone(),
                _ => return call,
            };
            let srgb = match call.arg("gamma", 1) {
                Some(Expr::Enum(g)) => match last_name(g) {
                    "gamma_srgb" => Some(true),
                    "gamma_linear" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            Expr::Texture { path, srgb }
        }
        _ => call,
    }
}

/// Reads a module. Errors give line and column.
pub fn parse(text: &str) -> Result<Module, String> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        lets: Vec::new(),
        params: Vec::new(),
        depth: 0,
    };
    let mut materials = Vec::new();
    while !p.done() {
        let exported = p.eat_word("export");
        if p.peek_word("material") {
            p.at += 1;
            let material = p.material(exported)?;
            materials.push(material);
        } else {
            p.skip_declaration()?;
        }
    }
    Ok(Module { materials })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Float(f32),
    Int(i64),
    Str(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut line_start) = (0, 1, 0);
    while i < chars.len() {
        let c = chars[i];
        let column = i - line_start + 1;
        let at = |tok| Token { tok, line, column };
        if c == '\n' {
            line += 1;
            line_start = i + 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let (start_line, start_column) = (line, column);
            i += 2;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "line {start_line}, column {start_column}: a comment is never closed"
                        ))
                    }
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => {
                        line += 1;
                        line_start = i + 1;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' || (c == ':' && chars.get(i + 1) == Some(&':')) {
            // A name, qualified (`::df::diffuse_edf`) or not.
            let start = i;
            loop {
                if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
                    i += 2;
                } else if chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(at(Tok::Word(chars[start..i].iter().collect())));
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            let mut float = false;
            while let Some(&d) = chars.get(i) {
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == '.' && !float {
                    float = true;
                    i += 1;
                } else if (d == 'e' || d == 'E')
                    && (chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())
                        || (matches!(chars.get(i + 1), Some('+' | '-'))
                            && chars.get(i + 2).is_some_and(|n| n.is_ascii_digit())))
                {
                    float = true;
                    i += 2;
                } else {
                    break;
                }
            }
            let digits: String = chars[start..i].iter().collect();
            let suffix = chars.get(i).copied();
            if matches!(suffix, Some('f' | 'F' | 'd' | 'D')) {
                float = true;
                i += 1;
            }
            let bad = || format!("line {line}, column {column}: {digits:?} is not a number");
            out.push(at(if float {
                Tok::Float(digits.parse::<f32>().map_err(|_| bad())?)
            } else {
                Tok::Int(digits.parse::<i64>().map_err(|_| bad())?)
            }));
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None | Some('\n') => return Err(format!("line {line}, column {column}: a string is never closed")),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(&e) => s.push(e),
                            None => {}
                        }
                        i += 2;
                    }
                    Some(&e) => {
                        s.push(e);
                        i += 1;
                    }
                }
            }
            out.push(at(Tok::Str(s)));
        } else if "()[]{},;:=*+-/.<>!?&|%^~".contains(c) {
            out.push(at(Tok::Punct(c)));
            i += 1;
        } else {
            return Err(format!("line {line}, column {column}: unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// `let` bindings in scope, innermost last.
    lets: Vec<HashMap<String, Expr>>,
    /// The parameters of the material being read.
    params: Vec<String>,
    depth: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.tok)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.at + ahead).map(|t| &t.tok)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == word)
    }

    fn peek_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let hit = self.peek_word(word);
        self.at += usize::from(hit);
        hit
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let hit = self.peek_punct(c);
        self.at += usize::from(hit);
        hit
    }

    /// "line L, column C" of the current token (or the end).
    fn here(&self) -> String {
        match self.tokens.get(self.at).or(self.tokens.last()) {
            Some(t) if self.at < self.tokens.len() => format!("line {}, column {}", t.line, t.column),
            Some(t) => format!("line {}, at the end", t.line),
            None => "at the start".into(),
        }
    }

    fn error(&self, what: &str) -> String {
        let found = match self.peek() {
            Some(Tok::Word(w)) => format!("'{w}'"),
            Some(Tok::Punct(c)) => format!("'{c}'"),
            Some(Tok::Str(s)) => format!("\"{s}\""),
            Some(Tok::Float(x)) => x.to_string(),
            Some(Tok::Int(i)) => i.to_string(),
            None => "the end of the module".into(),
        };
        format!("{}: expected {what}, found {found}", self.here())
    }

    fn expect_punct(&mut self, c: char) -> Result<(), String> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.error(&format!("'{c}'")))
        }
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => Err(self.error(what)),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("{}: nested deeper than {MAX_DEPTH}", self.here()));
        }
        Ok(())
    }

    /// Skips a declaration this does not read: to its `;`, or through its `{ ... }` body.
    fn skip_declaration(&mut self) -> Result<(), String> {
        let start = self.here();
        let mut depth = 0usize;
        while let Some(tok) = self.peek().cloned() {
            self.at += 1;
            match tok {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']') => depth = depth.saturating_sub(1),
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        // A function or struct body ends the declaration (a `;` may follow).
                        self.eat_punct(';');
                        return Ok(());
                    }
                }
                Tok::Punct(';') if depth == 0 => return Ok(()),
                _ => {}
            }
        }
        Err(format!("{start}: a declaration is never ended (no ';')"))
    }

    /// Skips `[[ ... ]]` annotation blocks.
    fn skip_annotations(&mut self) -> Result<(), String> {
        while self.peek_punct('[') && self.peek_at(1) == Some(&Tok::Punct('[')) {
            let start = self.here();
            let mut depth = 0usize;
            loop {
                match self.peek() {
                    None => return Err(format!("{start}: an annotation is never closed")),
                    Some(Tok::Punct('[' | '(')) => depth += 1,
                    Some(Tok::Punct(']' | ')')) => depth = depth.saturating_sub(1),
                    _ => {}
                }
                self.at += 1;
                if depth == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// `Name(params) [[...]] = body;` after `material`.
    fn material(&mut self, exported: bool) -> Result<ExportedMaterial, String> {
        let name = self.word("a material name")?;
        self.expect_punct('(')?;
        let mut parameters = Vec::new();
        let mut star = false;
        self.params.clear();
        if self.eat_punct('*') {
            star = true;
            self.expect_punct(')')?;
        } else if !self.eat_punct(')') {
            loop {
                let parameter = self.parameter()?;
                self.params.push(parameter.name.clone());
                parameters.push(parameter);
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        self.skip_annotations()?;
        self.expect_punct('=')?;
        let body = self.expr()?;
        self.expect_punct(';')?;
        self.params.clear();
        Ok(ExportedMaterial {
            name,
            exported,
            star,
            parameters,
            body: classify(body),
        })
    }

    /// `[uniform|varying] type name [= default] [[...]]`.
    fn parameter(&mut self) -> Result<Parameter, String> {
        let mut ty = String::new();
        while self.peek_word("uniform") || self.peek_word("varying") {
            ty.push_str(&self.word("a modifier")?);
            ty.push(' ');
        }
        ty.push_str(&self.word("a parameter type")?);
        // Arrays: `float[3]`, `color[]`, `T[<N>]`.
        while self.peek_punct('[') && self.peek_at(1) != Some(&Tok::Punct('[')) {
            while let Some(tok) = self.peek().cloned() {
                self.at += 1;
                if tok == Tok::Punct(']') {
                    break;
                }
            }
            ty.push_str("[]");
        }
        let name = self.word("a parameter name")?;
        let default = if self.eat_punct('=') { Some(self.expr()?) } else { None };
        self.skip_annotations()?;
        Ok(Parameter { ty, name, default })
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let e = self.conditional();
        self.depth -= 1;
        e
    }

    fn conditional(&mut self) -> Result<Expr, String> {
        let condition = self.binary(0)?;
        if self.eat_punct('?') {
            let _ = self.expr()?;
            self.expect_punct(':')?;
            let _ = self.expr()?;
            let _ = condition;
            return Ok(Expr::Other("a conditional (?:)".into()));
        }
        Ok(condition)
    }

    /// Binary operators by precedence: comparisons and logic (read, not folded), `+ -`, `* / %`.
    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: [&str; 4] = ["|&", "<>!=", "+-", "*/%"];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct(c)) if LEVELS[level].contains(*c) => *c,
                _ => return Ok(left),
            };
            // `=` alone is not an operator here (`==` is); `!` only as `!=`.
            if (op == '=' || op == '!') && self.peek_at(1) != Some(&Tok::Punct('=')) {
                return Ok(left);
            }
            self.at += 1;
            while matches!(self.peek(), Some(Tok::Punct('=' | '&' | '|'))) {
                self.at += 1;
            }
            self.enter()?;
            let right = self.binary(level + 1);
            self.depth -= 1;
            let right = right?;
            left = if "+-*/".contains(op) {
                fold_binary(op, left, right)
            } else {
                Expr::Other(format!("a comparison or logic ({op})"))
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_punct('-') {
            self.enter()?;
            let e = self.unary();
            self.depth -= 1;
            return Ok(fold_neg(e?));
        }
        if self.eat_punct('+') {
            return self.unary();
        }
        if self.eat_punct('!') || self.eat_punct('~') {
            let _ = self.unary()?;
            return Ok(Expr::Other("a negation (!)".into()));
        }
        let mut e = self.primary()?;
        // Member access and indexing are read, not evaluated.
        loop {
            if self.eat_punct('.') {
                let member = self.word("a member name")?;
                e = Expr::Other(format!("a member access (.{member})"));
            } else if self.peek_punct('[') && self.peek_at(1) != Some(&Tok::Punct('[')) {
                self.at += 1;
                let _ = self.expr()?;
                self.expect_punct(']')?;
                e = Expr::Other("an array element".into());
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self.peek().cloned().ok_or_else(|| self.error("an expression"))?;
        match tok {
            Tok::Float(x) => {
                self.at += 1;
                Ok(Expr::Float(x))
            }
            Tok::Int(i) => {
                self.at += 1;
                Ok(Expr::Int(i))
            }
            Tok::Str(s) => {
                self.at += 1;
                Ok(Expr::Str(s))
            }
            Tok::Punct('(') => {
                self.at += 1;
                let e = self.expr()?;
                self.expect_punct(')')?;
                Ok(e)
            }
            Tok::Word(w) if w == "let" => self.let_in(),
            Tok::Word(w) => {
                self.at += 1;
                match w.as_str() {
                    "true" => return Ok(Expr::Bool(true)),
                    "false" => return Ok(Expr::Bool(false)),
                    _ => {}
                }
                // An array constructor `T[](...)` or `T[N](...)`.
                if self.peek_punct('[') && self.peek_at(1) != Some(&Tok::Punct('[')) {
                    while let Some(t) = self.peek().cloned() {
                        self.at += 1;
                        if t == Tok::Punct(']') {
                            break;
                        }
                    }
                    if self.peek_punct('(') {
                        let _ = self.arguments()?;
                    }
                    return Ok(Expr::Other(format!("an array of {w}")));
                }
                if self.peek_punct('(') {
                    let args = self.arguments()?;
                    return Ok(fold_call(w, args));
                }
                if let Some(bound) = self.lets.iter().rev().find_map(|scope| scope.get(&w)) {
                    return Ok(bound.clone());
                }
                if self.params.contains(&w) {
                    return Ok(Expr::Param(w));
                }
                Ok(Expr::Enum(w))
            }
            _ => Err(self.error("an expression")),
        }
    }

    /// `( [name:] expr, ... )`.
    fn arguments(&mut self) -> Result<Vec<(Option<String>, Expr)>, String> {
        self.expect_punct('(')?;
        let mut args = Vec::new();
        if self.eat_punct(')') {
            return Ok(args);
        }
        loop {
            let name = match (self.peek(), self.peek_at(1), self.peek_at(2)) {
                // `name:` but not `name::` (a qualified name lexes as one word, so this is safe).
                (Some(Tok::Word(w)), Some(Tok::Punct(':')), next) if next != Some(&Tok::Punct(':')) => {
                    let w = w.clone();
                    self.at += 2;
                    Some(w)
                }
                _ => None,
            };
            let value = self.expr()?;
            args.push((name, value));
            if self.eat_punct(')') {
                return Ok(args);
            }
            self.expect_punct(',')?;
        }
    }

    /// `let { T name = expr; ... } in expr` (or a single `let T name = expr; in expr`).
    fn let_in(&mut self) -> Result<Expr, String> {
        self.at += 1;
        self.lets.push(HashMap::new());
        let braced = self.eat_punct('{');
        loop {
            if braced && self.eat_punct('}') {
                break;
            }
            // Type (possibly with modifiers), name, `=`, value, `;`.
            while self.peek_word("uniform") || self.peek_word("varying") {
                self.at += 1;
            }
            self.word("a type")?;
            let name = self.word("a name")?;
            self.expect_punct('=')?;
            let value = self.expr()?;
            self.expect_punct(';')?;
            if let Some(scope) = self.lets.last_mut() {
                scope.insert(name, value);
            }
            if !braced {
                break;
            }
        }
        if !self.eat_word("in") {
            self.lets.pop();
            return Err(self.error("'in'"));
        }
        let body = self.expr();
        self.lets.pop();
        body
    }
}

/// What a material's body expression is.
fn classify(body: Expr) -> Body {
    let Expr::Call { callee, args } = &body else {
        return Body::Unsupported(format!("its body is {}", describe(&body)));
    };
    if last_name(callee) != "material" {
        let mut named = Vec::new();
        for (n, e) in args {
            match n {
                Some(n) => named.push((n.clone(), e.clone())),
                None => return Body::Unsupported(format!("it calls {callee} with positional arguments")),
            }
        }
        return Body::Call {
            callee: last_name(callee).to_string(),
            qualified: callee.clone(),
            args: named,
        };
    }
    match simple(&body) {
        Ok(s) => Body::Simple(s),
        Err(why) => Body::Unsupported(why),
    }
}

/// The parts of `material(...)` drawn, or why it is beyond them.
fn simple(body: &Expr) -> Result<SimpleMaterial, String> {
    // `material`'s fields; a name outside them is an error in the module (pxr's MDL compiler
    // refuses it), not something to drop silently.
    const FIELDS: [&str; 7] = [
        "thin_walled",
        "surface",
        "backface",
        "ior",
        "volume",
        "geometry",
        "hair",
    ];
    if let Expr::Call { args, .. } = body {
        if let Some(name) = args
            .iter()
            .filter_map(|(n, _)| n.as_deref())
            .find(|n| !FIELDS.contains(n))
        {
            return Err(format!("material(...) has no field {name}"));
        }
    }
    let black = Expr::Color([0.0; 3]);
    let mut tint = black.clone();
    if let Some(surface) = body.arg("surface", 1) {
        match surface.callee() {
            Some("material_surface") => match surface.arg("scattering", 0) {
                None => {}
                Some(bsdf) => match bsdf.callee() {
                    Some("diffuse_reflection_bsdf") => {
                        tint = bsdf.arg("tint", 0).cloned().unwrap_or(Expr::Color([1.0; 3]))
                    }
                    Some("bsdf") => {}
                    _ => return Err(format!("its surface scatters by {}", describe(bsdf))),
                },
            },
            _ => return Err(format!("its surface is {}", describe(surface))),
        }
    }
    let mut emission_intensity = black;
    if let Some(surface) = body.arg("surface", 1) {
        if let Some(emission) = surface.arg("emission", 1) {
            match emission.callee() {
                Some("material_emission") => {
                    if let Some(edf) = emission.arg("emission", 0) {
                        if !matches!(edf.callee(), Some("diffuse_edf" | "edf")) {
                            return Err(format!("it emits by {}", describe(edf)));
                        }
                    }
                    if let Some(Expr::Enum(mode)) = emission.arg("mode", 2) {
                        if last_name(mode) != "intensity_radiant_exitance" {
                            return Err(format!("its emission mode is {}", last_name(mode)));
                        }
                    }
                    emission_intensity = emission.arg("intensity", 1).cloned().unwrap_or(Expr::Color([0.0; 3]));
                }
                _ => return Err(format!("its emission is {}", describe(emission))),
            }
        }
    }
    let cutout_opacity = match body.arg("geometry", 5) {
        Some(geometry) if geometry.callee() == Some("material_geometry") => {
            geometry.arg("cutout_opacity", 1).cloned().unwrap_or(Expr::Float(1.0))
        }
        Some(other) => return Err(format!("its geometry is {}", describe(other))),
        None => Expr::Float(1.0),
    };
    let thin_walled = body.arg("thin_walled", 0).cloned().unwrap_or(Expr::Bool(false));
    Ok(SimpleMaterial {
        tint,
        emission_intensity,
        cutout_opacity,
        thin_walled,
    })
}

/// A short description of an expression, for messages.
pub fn describe(e: &Expr) -> String {
    match e {
        Expr::Call { callee, .. } => format!("{callee}(...)"),
        Expr::Other(what) => what.clone(),
        Expr::Param(p) => format!("parameter {p}"),
        Expr::Enum(n) => n.clone(),
        Expr::Binary(op, ..) => format!("arithmetic ({op})"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOKS: &str = r#"mdl 1.6;

import ::df::*;
import ::anno::*;
using ::OmniPBR import OmniPBR;

// A comment; /* and a block one */
/* spanning
   lines */
export material Brick(*)
[[ anno::display_name("Brick") ]]
= OmniPBR(
    diffuse_color_constant: color(0.7, 0.3, 0.2),
    reflection_roughness_constant: 0.8f,
    diffuse_texture: texture_2d("./checker.png", ::tex::gamma_srgb),
    metallic_constant: 0.1f
);

float helper(float x) { return x * 2.0; }
struct Pair { float a; float b; };

export material Glow(
    color tint = color(0.1, 0.6, 0.3) [[ anno::display_name("Tint") ]],
    uniform float strength = 0.5
)
= let {
    color base = color(1.0, 0.8, 0.2);
} in material(
    surface: material_surface(
        scattering: df::diffuse_reflection_bsdf(tint: tint),
        emission: material_emission(
            emission: df::diffuse_edf(),
            intensity: base * strength,
            mode: intensity_radiant_exitance
        )
    ),
    geometry: material_geometry(cutout_opacity: 0.25)
);
"#;

    #[test]
    fn reads_calls_simple_materials_lets_and_skips_the_rest() {
        let module = parse(LOOKS).unwrap();
        assert_eq!(module.materials.len(), 2);
        let brick = module.material("Brick").unwrap();
        assert!(brick.star && brick.exported);
        let Body::Call { callee, args, .. } = &brick.body else {
            panic!("{:?}", brick.body)
        };
        assert_eq!(callee, "OmniPBR");
        let arg = |n: &str| args.iter().find(|(a, _)| a == n).map(|(_, e)| e.clone());
        assert_eq!(arg("diffuse_color_constant"), Some(Expr::Color([0.7, 0.3, 0.2])));
        assert_eq!(arg("reflection_roughness_constant"), Some(Expr::Float(0.8)));
        assert_eq!(
            arg("diffuse_texture"),
            Some(Expr::Texture {
                path: "./checker.png".into(),
                srgb: Some(true)
            })
        );

        let glow = module.material("Glow").unwrap();
        assert_eq!(glow.parameters.len(), 2);
        assert_eq!(glow.parameters[1].ty, "uniform float");
        let Body::Simple(s) = &glow.body else {
            panic!("{:?}", glow.body)
        };
        assert_eq!(s.tint, Expr::Param("tint".into()));
        assert_eq!(s.cutout_opacity, Expr::Float(0.25));
        // Defaults, then a USD override of one parameter.
        let defaults = |n: &str| glow.default_of(n).cloned();
        assert_eq!(resolve(&s.emission_intensity, &defaults), Expr::Color([0.5, 0.4, 0.1]));
        let overridden = |n: &str| {
            if n == "strength" {
                Some(Expr::Float(2.0))
            } else {
                defaults(n)
            }
        };
        assert_eq!(
            resolve(&s.emission_intensity, &overridden),
            Expr::Color([2.0, 1.6, 0.4])
        );
        assert_eq!(resolve(&s.tint, &defaults), Expr::Color([0.1, 0.6, 0.3]));
    }

    #[test]
    fn unsupported_bodies_say_why() {
        let m = parse("export material M() = material(surface: material_surface(scattering: df::specular_bsdf()));")
            .unwrap();
        assert!(
            matches!(&m.materials[0].body, Body::Unsupported(w) if w.contains("specular_bsdf")),
            "{:?}",
            m
        );
        let m = parse("export material M() = material(emission: material_emission());").unwrap();
        assert!(
            matches!(&m.materials[0].body, Body::Unsupported(w) if w.contains("no field emission")),
            "{:?}",
            m
        );
        let m = parse("export material M(float x = 1.0) = x > 0.5 ? material() : material();").unwrap();
        assert!(
            matches!(&m.materials[0].body, Body::Unsupported(w) if w.contains("conditional")),
            "{:?}",
            m
        );
    }

    #[test]
    fn errors_give_line_and_column() {
        let e = parse("mdl 1.6;\nexport material M(\n  color c = color(1.0\n);").unwrap_err();
        assert!(e.starts_with("line 4, column 2"), "{e}");
        let e = parse("export material M() = material(\n  thin_walled: @);").unwrap_err();
        assert!(e.contains("line 2, column 16") && e.contains('@'), "{e}");
        let e = parse("/* never closed").unwrap_err();
        assert!(e.contains("never closed"), "{e}");
        let e = parse("export material M() = material(\"x);").unwrap_err();
        assert!(e.contains("string is never closed"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!(
            "export material M() = {}1.0{};",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let e = parse(&deep).unwrap_err();
        assert!(e.contains("nested deeper"), "{e}");
        let deep = format!("export material M() = {}1.0;", "-".repeat(100_000));
        assert!(parse(&deep).unwrap_err().contains("nested deeper"));
        let calls = format!("export material M() = {}{};", "f(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&calls).unwrap_err().contains("nested deeper"));
    }

    #[test]
    fn a_parameter_naming_itself_does_not_loop() {
        let e = Expr::Param("a".into());
        let lookup = |_: &str| {
            Some(Expr::Binary(
                '*',
                Box::new(Expr::Param("a".into())),
                Box::new(Expr::Float(2.0)),
            ))
        };
        // Stops at the cap and leaves what is left unfolded.
        assert!(matches!(resolve(&e, &lookup), Expr::Binary(..) | Expr::Other(_)));
    }
}
