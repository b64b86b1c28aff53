//! The operators of the language: `a == b` is lowered to `eq(a, b)`, `a < b`
//! to `lt(a, b)`, `a and b` to `and(a, b)`, `-a` to `neg(a)` and so on.
//!
//! All of them are cheap and never cached.

use std::cmp::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::Clip;
use vprog_runtime::CachePolicy;
use vprog_runtime::{Args, Module, ModuleError, Param, ParamType, Returns, Signature, StepContext, Type, Value};

use super::arg;

/// Every operator module.
pub fn modules() -> Vec<Arc<dyn Module>> {
    let mut all: Vec<Arc<dyn Module>> = Vec::new();
    for op in [Comparison::Eq, Comparison::Ne, Comparison::Lt, Comparison::Le, Comparison::Gt, Comparison::Ge] {
        all.push(Arc::new(Compare::new(op)));
    }
    for op in [Logic::And, Logic::Or, Logic::Not] {
        all.push(Arc::new(LogicOp::new(op)));
    }
    for op in [Arith::Add, Arith::Sub, Arith::Mul, Arith::Div, Arith::Neg] {
        all.push(Arc::new(Arithmetic::new(op)));
    }
    all
}

// ---------------------------------------------------------------------------
// Equality and ordering
// ---------------------------------------------------------------------------

/// Which comparison a [`Compare`] module performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `eq`: deep value equality (`==`).
    Eq,
    /// `ne`: deep value inequality (`!=`).
    Ne,
    /// `lt`: strictly less (`<`).
    Lt,
    /// `le`: less or equal (`<=`).
    Le,
    /// `gt`: strictly greater (`>`).
    Gt,
    /// `ge`: greater or equal (`>=`).
    Ge,
}

/// The comparison modules `eq`, `ne`, `lt`, `le`, `gt` and `ge`.
pub struct Compare {
    op: Comparison,
    sig: Signature,
}

const EQ_DOC: &str = "True when `a` and `b` are the same value (the `==` operator).
Deep equality: lists element by element, timed values by all their contents, \
frames by time, size and pixels. Numbers compare numerically, so `2 == 2.0` is \
true. Times compare exactly (no tolerance); a video equals the whole-video clip \
and a frame equals a one-frame `Frames`. Values of different kinds are not equal.";

const NE_DOC: &str = "True when `a` and `b` are different values (the `!=` operator).
The negation of `eq`: deep equality, numbers compare numerically (`2 != 2.0` is \
false), values of different kinds are different.";

const ORDER_DOC: &str = "Orders two numbers, durations, timestamps or texts (the `<`, `<=`, `>`, `>=` operators).
`a` and `b` must be of the same kind: numbers (Int and Number mix freely), two \
durations, two timestamps or two texts. Texts compare by Unicode code point \
(case-sensitive, not locale-aware). A comparison involving NaN is false.";

impl Compare {
    /// The module for `op`.
    pub fn new(op: Comparison) -> Compare {
        let (name, doc) = match op {
            Comparison::Eq => ("eq", EQ_DOC),
            Comparison::Ne => ("ne", NE_DOC),
            Comparison::Lt => ("lt", ORDER_DOC),
            Comparison::Le => ("le", ORDER_DOC),
            Comparison::Gt => ("gt", ORDER_DOC),
            Comparison::Ge => ("ge", ORDER_DOC),
        };
        let a = match op {
            Comparison::Eq | Comparison::Ne => Param::of("a", Type::Any, "Left-hand value.").generic(),
            _ => {
                Param::required("a", ParamType::OneOf(vec![Type::Number, Type::Duration, Type::Timestamp, Type::Text]), "Left-hand value.")
                    .generic()
            }
        };
        let sig = Signature::new(name, "1.0.0", Returns::Is(Type::Bool), doc)
            .param(a)
            .param(Param::required("b", ParamType::SameAsT, "Right-hand value, of the same kind as `a`."))
            .cache(CachePolicy::Never)
            .inline();
        Compare { op, sig }
    }
}

#[async_trait]
impl Module for Compare {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let a = arg(&args, "a")?;
        let b = arg(&args, "b")?;
        let result = match self.op {
            Comparison::Eq => values_equal(a, b),
            Comparison::Ne => !values_equal(a, b),
            op => {
                let ord = order(self.sig.name, a, b)?;
                match (op, ord) {
                    (_, None) => false,
                    (Comparison::Lt, Some(o)) => o == Ordering::Less,
                    (Comparison::Le, Some(o)) => o != Ordering::Greater,
                    (Comparison::Gt, Some(o)) => o == Ordering::Greater,
                    (_, Some(o)) => o != Ordering::Less,
                }
            }
        };
        Ok(Value::Bool(result))
    }
}

/// Deep equality of two values, as the `eq` module defines it.
///
/// Numbers compare numerically (`Int(2)` equals `Number(2.0)`); a video
/// equals its whole-video clip; a frame equals a one-frame `Frames`; lists
/// compare element-wise; everything else compares field by field (frames
/// include their pixels). Values of different kinds are unequal. Floating
/// point fields compare exactly, so NaN is unequal to itself.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    use Value as V;
    match (a, b) {
        (V::Int(x), V::Int(y)) => x == y,
        (V::Number(x), V::Number(y)) => x == y,
        (V::Int(i), V::Number(f)) | (V::Number(f), V::Int(i)) => cmp_int_float(*i, *f) == Some(Ordering::Equal),
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Duration(x), V::Duration(y)) | (V::Timestamp(x), V::Timestamp(y)) => x == y,
        (V::Text(x), V::Text(y)) => x == y,
        (V::Video(x), V::Video(y)) => Arc::ptr_eq(x, y) || x == y,
        (V::Clip(x), V::Clip(y)) => Arc::ptr_eq(x, y) || x == y,
        (V::Video(v), V::Clip(c)) | (V::Clip(c), V::Video(v)) => Clip::whole(v.clone()) == **c,
        (V::Frame(x), V::Frame(y)) => frames_equal(x, y),
        (V::Frames(x), V::Frames(y)) => {
            Arc::ptr_eq(x, y) || (x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| frames_equal(p, q)))
        }
        (V::Frame(f), V::Frames(fs)) | (V::Frames(fs), V::Frame(f)) => fs.len() == 1 && fs.first().is_some_and(|g| frames_equal(f, g)),
        (V::Detections(x), V::Detections(y)) => Arc::ptr_eq(x, y) || x == y,
        (V::Tracks(x), V::Tracks(y)) => Arc::ptr_eq(x, y) || x == y,
        (V::Masks(x), V::Masks(y)) => Arc::ptr_eq(x, y) || x == y,
        (V::TimedText(x), V::TimedText(y)) => Arc::ptr_eq(x, y) || x == y,
        (V::Choice(x), V::Choice(y)) => x == y,
        (V::List(x), V::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| values_equal(p, q)),
        _ => false,
    }
}

fn frames_equal(a: &vprog_runtime::value::Frame, b: &vprog_runtime::value::Frame) -> bool {
    a.time == b.time && a.width == b.width && a.height == b.height && (Arc::ptr_eq(&a.rgb, &b.rgb) || a.rgb == b.rgb)
}

/// Exact comparison of an integer with a float (no rounding of large ints).
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^63 is exactly representable; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // In range, so the cast is exact.
    let w = whole as i64;
    match i.cmp(&w) {
        Ordering::Equal => 0.0_f64.partial_cmp(&(f - whole)),
        other => Some(other),
    }
}

/// Orders `a` against `b`; `None` when unordered (NaN).
fn order(module: &str, a: &Value, b: &Value) -> Result<Option<Ordering>, ModuleError> {
    use Value as V;
    Ok(match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Number(x), V::Number(y)) => x.partial_cmp(y),
        (V::Int(i), V::Number(f)) => cmp_int_float(*i, *f),
        (V::Number(f), V::Int(i)) => cmp_int_float(*i, *f).map(Ordering::reverse),
        (V::Duration(x), V::Duration(y)) | (V::Timestamp(x), V::Timestamp(y)) => x.partial_cmp(y),
        (V::Text(x), V::Text(y)) => Some(x.cmp(y)),
        (V::Int(_) | V::Number(_) | V::Duration(_) | V::Timestamp(_) | V::Text(_), _) => {
            return Err(ModuleError::invalid(
                "b",
                format!(
                    "{module}: cannot compare {} with {}; both sides must be numbers, durations, timestamps or texts of the same kind",
                    a.type_of(),
                    b.type_of()
                ),
            ))
        }
        _ => {
            return Err(ModuleError::invalid(
                "a",
                format!("{module}: only numbers, durations, timestamps and texts can be ordered, got {}", a.type_of()),
            ))
        }
    })
}

// ---------------------------------------------------------------------------
// Logic
// ---------------------------------------------------------------------------

/// Which operation a [`LogicOp`] module performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logic {
    /// `and`: both are true.
    And,
    /// `or`: at least one is true.
    Or,
    /// `not`: the negation.
    Not,
}

/// The boolean modules `and`, `or` and `not`.
pub struct LogicOp {
    op: Logic,
    sig: Signature,
}

impl LogicOp {
    /// The module for `op`.
    pub fn new(op: Logic) -> LogicOp {
        let sig = match op {
            Logic::And => Signature::new(
                "and",
                "1.0.0",
                Returns::Is(Type::Bool),
                "True when both `a` and `b` are true (the `and` operator).\nBoth arguments are always evaluated.",
            )
            .param(Param::of("a", Type::Bool, "First condition."))
            .param(Param::of("b", Type::Bool, "Second condition.")),
            Logic::Or => Signature::new(
                "or",
                "1.0.0",
                Returns::Is(Type::Bool),
                "True when `a` or `b` (or both) is true (the `or` operator).\nBoth arguments are always evaluated.",
            )
            .param(Param::of("a", Type::Bool, "First condition."))
            .param(Param::of("b", Type::Bool, "Second condition.")),
            Logic::Not => Signature::new(
                "not",
                "1.0.0",
                Returns::Is(Type::Bool),
                "True when `a` is false (the `not` operator).\nThe boolean negation of its argument.",
            )
            .param(Param::of("a", Type::Bool, "The condition to negate.")),
        };
        LogicOp { op, sig: sig.cache(CachePolicy::Never).inline() }
    }
}

#[async_trait]
impl Module for LogicOp {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let a = args.bool("a")?;
        Ok(Value::Bool(match self.op {
            Logic::And => a & args.bool("b")?,
            Logic::Or => a | args.bool("b")?,
            Logic::Not => !a,
        }))
    }
}

// ---------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------

/// Which operation an [`Arithmetic`] module performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `add`: `a + b`.
    Add,
    /// `sub`: `a - b`.
    Sub,
    /// `mul`: `a * b`.
    Mul,
    /// `div`: `a / b`, always a Number.
    Div,
    /// `neg`: `-a`.
    Neg,
}

/// The arithmetic modules `add`, `sub`, `mul`, `div` and `neg`.
pub struct Arithmetic {
    op: Arith,
    sig: Signature,
}

impl Arithmetic {
    /// The module for `op`.
    pub fn new(op: Arith) -> Arithmetic {
        let (name, returns, doc) = match op {
            Arith::Add => (
                "add",
                Returns::Numeric,
                "Adds two numbers (the `+` operator).\nInt + Int is an Int (an error if it overflows 64 bits); otherwise a Number.",
            ),
            Arith::Sub => (
                "sub",
                Returns::Numeric,
                "Subtracts `b` from `a` (the binary `-` operator).\nInt - Int is an Int (an error if it overflows 64 bits); otherwise a Number.",
            ),
            Arith::Mul => (
                "mul",
                Returns::Numeric,
                "Multiplies two numbers (the `*` operator).\nInt * Int is an Int (an error if it overflows 64 bits); otherwise a Number.",
            ),
            Arith::Div => (
                "div",
                Returns::Is(Type::Number),
                "Divides `a` by `b` (the `/` operator); always a Number.\n`7 / 2` is 3.5. Dividing by zero is an error.",
            ),
            Arith::Neg => (
                "neg",
                Returns::Numeric,
                "Negates a number (the unary `-` operator).\nAn Int stays an Int (negating the smallest Int is an overflow error).",
            ),
        };
        let mut sig = Signature::new(name, "1.0.0", returns, doc).cache(CachePolicy::Never).inline();
        if op == Arith::Neg {
            sig = sig.param(Param::of("a", Type::Number, "The number to negate."));
        } else {
            sig = sig.param(Param::of("a", Type::Number, "Left-hand number.")).param(Param::of("b", Type::Number, "Right-hand number."));
        }
        Arithmetic { op, sig }
    }
}

/// An Int or a Number argument.
#[derive(Clone, Copy)]
enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn get(args: &Args, name: &str) -> Result<Num, ModuleError> {
        match arg(args, name)? {
            Value::Int(i) => Ok(Num::I(*i)),
            Value::Number(f) => Ok(Num::F(*f)),
            other => Err(ModuleError::invalid(name, format!("expected a number, got {}", other.type_of()))),
        }
    }

    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    fn show(self) -> String {
        match self {
            Num::I(i) => i.to_string(),
            // As the program writes it: `0.0 / 0.0`, not `0 / 0`.
            Num::F(f) => vprog_grammar::format_float(f),
        }
    }
}

fn finite(name: &str, expr: String, v: f64) -> Result<Value, ModuleError> {
    if v.is_finite() {
        Ok(Value::Number(v))
    } else {
        Err(ModuleError::Failed(format!("{name}: {expr} is not a finite number (result {v})")))
    }
}

#[async_trait]
impl Module for Arithmetic {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let name = self.sig.name;
        let a = Num::get(&args, "a")?;
        if self.op == Arith::Neg {
            return match a {
                Num::I(i) => i
                    .checked_neg()
                    .map(Value::Int)
                    .ok_or_else(|| ModuleError::Failed(format!("neg: integer overflow: -({i}) does not fit in an Int"))),
                Num::F(f) => Ok(Value::Number(-f)),
            };
        }
        let b = Num::get(&args, "b")?;
        let symbol = match self.op {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            _ => "/",
        };
        let expr = format!("{} {symbol} {}", a.show(), b.show());
        if self.op == Arith::Div {
            let d = b.f();
            if d == 0.0 {
                return Err(ModuleError::invalid("b", format!("div: division by zero in {expr}")));
            }
            return finite(name, expr, a.f() / d);
        }
        if let (Num::I(x), Num::I(y)) = (a, b) {
            let r = match self.op {
                Arith::Add => x.checked_add(y),
                Arith::Sub => x.checked_sub(y),
                _ => x.checked_mul(y),
            };
            return r.map(Value::Int).ok_or_else(|| {
                ModuleError::Failed(format!(
                    "{name}: integer overflow: {expr} does not fit in an Int (64 bits); use a Number (e.g. `{x}.0`) for approximate arithmetic"
                ))
            });
        }
        let (x, y) = (a.f(), b.f());
        let r = match self.op {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            _ => x * y,
        };
        finite(name, expr, r)
    }
}
