//! The abstract syntax tree of a vprog program.
//!
//! Every node carries the [`Span`] it was parsed from so later stages (the
//! checker, the runtime's trace) can point back at the source. Spans are not
//! part of a program's meaning: [`Program::without_spans`] erases them so two
//! programs can be compared structurally.

use crate::span::Span;

/// A whole program: bindings, ending in an `answer` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Statements in source order.
    pub statements: Vec<Statement>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What the statement does.
    pub kind: StatementKind,
    /// Source span of the whole statement.
    pub span: Span,
}

/// The two statement forms.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `name = expr`
    Bind {
        /// The bound name.
        name: Ident,
        /// Its value.
        value: Expr,
    },
    /// `answer expr`
    Answer(Expr),
}

/// An identifier with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The expression itself.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// Expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal constant.
    Literal(Literal),
    /// A reference to a binding, a comprehension variable or an implicit input.
    Var(String),
    /// A module call `name(args)`.
    Call {
        /// The module name.
        callee: Ident,
        /// Positional arguments first, then named ones.
        args: Vec<Arg>,
    },
    /// A list literal `[a, b, c]`.
    List(Vec<Expr>),
    /// `[body for var in source if filter]`: apply `body` to every element of
    /// `source` for which `filter` holds.
    Comprehension {
        /// Evaluated once per kept element.
        body: Box<Expr>,
        /// The element variable.
        var: Ident,
        /// The collection iterated over.
        source: Box<Expr>,
        /// Optional condition; elements where it is false are dropped.
        filter: Option<Box<Expr>>,
    },
    /// A prefix operator.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Expr>,
    },
    /// An infix operator.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
}

/// A call argument, positional (`name == None`) or named.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// `Some` for `name: value`.
    pub name: Option<Ident>,
    /// The argument value.
    pub value: Expr,
    /// Span of the whole argument.
    pub span: Span,
}

/// Literal constants.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `42`, `-3`
    Int(i64),
    /// `0.4`, `-1.5`
    Float(f64),
    /// `"person"`
    Str(String),
    /// `true`, `false`
    Bool(bool),
    /// `5s`, `1.5m`, `250ms`, `2h`: a length of time.
    Duration {
        /// The length in milliseconds.
        millis: u64,
        /// The unit it was written in (kept for printing).
        unit: TimeUnit,
    },
    /// `01:02.5`, `1:02:03`: a point in the video, in milliseconds.
    Timestamp {
        /// Milliseconds from the start of the video.
        millis: u64,
    },
}

/// The unit of a duration literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
}

impl TimeUnit {
    /// Milliseconds in one unit.
    pub fn millis(self) -> u64 {
        match self {
            TimeUnit::Millis => 1,
            TimeUnit::Seconds => 1_000,
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
        }
    }

    /// The suffix as written in source.
    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
        }
    }
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `not x`
    Not,
    /// `-x`
    Neg,
}

/// Infix operators, each lowered to a built-in module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinaryOp {
    /// Every operator, loosest-binding first.
    pub const ALL: [BinaryOp; 12] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
    ];

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }

    /// Binding strength: higher binds tighter. All operators are left-associative.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div => 6,
        }
    }

    /// The built-in module an operator is lowered to.
    pub fn module_name(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }
}

impl UnaryOp {
    /// The built-in module an operator is lowered to.
    pub fn module_name(self) -> &'static str {
        match self {
            UnaryOp::Not => "not",
            UnaryOp::Neg => "neg",
        }
    }
}

/// Precedence of prefix operators (tighter than every infix operator but `not`,
/// which sits just above `and`).
pub(crate) const NOT_PRECEDENCE: u8 = 3;
pub(crate) const NEG_PRECEDENCE: u8 = 7;

impl Program {
    /// The final `answer` expression, if the program has one.
    pub fn answer(&self) -> Option<&Expr> {
        self.statements.iter().rev().find_map(|s| match &s.kind {
            StatementKind::Answer(e) => Some(e),
            StatementKind::Bind { .. } => None,
        })
    }

    /// A copy with every span set to the empty span at 0, for structural comparison.
    pub fn without_spans(&self) -> Program {
        Program {
            statements: self
                .statements
                .iter()
                .map(|s| Statement {
                    kind: match &s.kind {
                        StatementKind::Bind { name, value } => {
                            StatementKind::Bind { name: name.without_span(), value: value.without_spans() }
                        }
                        StatementKind::Answer(e) => StatementKind::Answer(e.without_spans()),
                    },
                    span: Span::default(),
                })
                .collect(),
        }
    }
}

impl Ident {
    fn without_span(&self) -> Ident {
        Ident { name: self.name.clone(), span: Span::default() }
    }
}

impl Expr {
    /// A copy with every span erased.
    pub fn without_spans(&self) -> Expr {
        let b = |e: &Expr| Box::new(e.without_spans());
        let kind = match &self.kind {
            ExprKind::Literal(l) => ExprKind::Literal(l.clone()),
            ExprKind::Var(v) => ExprKind::Var(v.clone()),
            ExprKind::Call { callee, args } => ExprKind::Call {
                callee: callee.without_span(),
                args: args
                    .iter()
                    .map(|a| Arg { name: a.name.as_ref().map(Ident::without_span), value: a.value.without_spans(), span: Span::default() })
                    .collect(),
            },
            ExprKind::List(items) => ExprKind::List(items.iter().map(Expr::without_spans).collect()),
            ExprKind::Comprehension { body, var, source, filter } => {
                ExprKind::Comprehension { body: b(body), var: var.without_span(), source: b(source), filter: filter.as_deref().map(b) }
            }
            ExprKind::Unary { op, operand } => ExprKind::Unary { op: *op, operand: b(operand) },
            ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary { op: *op, lhs: b(lhs), rhs: b(rhs) },
        };
        Expr { kind, span: Span::default() }
    }
}
