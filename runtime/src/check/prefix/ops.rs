//! What the registered operator modules can turn a value into: the type
//! rule of viable-prefix checking (`"five"` can become a Bool through `==`,
//! never a Number).

use vprog_grammar::BinaryOp;

use crate::module::{ParamType, Returns};
use crate::registry::Registry;
use crate::types::Type;

/// What the registered operators can turn a value into, for the type rule.
pub(super) struct OpTable {
    /// Every type an operator returns (at most 64).
    universe: Vec<Type>,
    /// Binary operators: the left parameter and what they return.
    rules: Vec<(ParamType, Ret)>,
    /// Per universe type: the types reachable from it (itself included).
    closure: Vec<u64>,
    /// Per universe type: whether a generic return is reachable from it.
    closure_wild: Vec<bool>,
}

/// An operator's return type, as a mask over [`OpTable::universe`].
#[derive(Clone, Copy)]
enum Ret {
    Fixed(u64),
    /// `Returns::Numeric`: Int when the left operand is an Int (and the right
    /// one too), Number otherwise. The masks are Int and Number.
    Numeric(u64, u64),
    /// Generic (`T`, `List<T>`, ...): anything.
    Wild,
}

impl Ret {
    /// What it returns when the left operand has type `lhs`: a mask, and
    /// whether the type is generic.
    fn apply(self, lhs: &Type) -> (u64, bool) {
        match self {
            Ret::Fixed(m) => (m, false),
            Ret::Numeric(int, number) => (if *lhs == Type::Int { int | number } else { number }, false),
            Ret::Wild => (0, true),
        }
    }
}

impl OpTable {
    pub(super) fn new(registry: &Registry) -> OpTable {
        let mut universe: Vec<Type> = Vec::new();
        let mut rules = Vec::new();
        let index = |t: Type, universe: &mut Vec<Type>| -> Option<u64> {
            match universe.iter().position(|u| *u == t) {
                Some(i) => Some(1 << i),
                None if universe.len() < 64 => {
                    universe.push(t);
                    Some(1 << (universe.len() - 1))
                }
                None => None,
            }
        };
        for op in BinaryOp::ALL {
            let Some(m) = registry.get(op.module_name()) else { continue };
            let sig = m.signature();
            let Some(lhs) = sig.params.first() else { continue };
            let ret = match &sig.returns {
                Returns::Is(t) => index(t.clone(), &mut universe).map_or(Ret::Wild, Ret::Fixed),
                Returns::Numeric => match (index(Type::Int, &mut universe), index(Type::Number, &mut universe)) {
                    (Some(a), Some(b)) => Ret::Numeric(a, b),
                    _ => Ret::Wild,
                },
                Returns::T | Returns::ListOfT | Returns::ElementOfT => Ret::Wild,
            };
            rules.push((lhs.ty.clone(), ret));
        }
        let n = universe.len();
        let mut closure: Vec<u64> = (0..n).map(|i| 1u64 << i).collect();
        let mut closure_wild = vec![false; n];
        for i in 0..n {
            loop {
                let (mut next, mut wild) = (closure[i], closure_wild[i]);
                for (j, t) in universe.iter().enumerate() {
                    if closure[i] & (1 << j) != 0 {
                        for (lhs, ret) in &rules {
                            if accepts(lhs, t) {
                                let (m, w) = ret.apply(t);
                                next |= m;
                                wild |= w;
                            }
                        }
                    }
                }
                if next == closure[i] && wild == closure_wild[i] {
                    break;
                }
                closure[i] = next;
                closure_wild[i] = wild;
            }
        }
        OpTable { universe, rules, closure, closure_wild }
    }

    /// Whether an expression whose leftmost operand has type `ty` can have a
    /// type `expected` accepts.
    pub(super) fn fits(&self, ty: &Type, expected: &ParamType) -> bool {
        if mentions_any(ty) || accepts(expected, ty) {
            return true;
        }
        let (mut mask, mut wild) = (0u64, false);
        for (lhs, ret) in &self.rules {
            if accepts(lhs, ty) {
                let (m, w) = ret.apply(ty);
                mask |= m;
                wild |= w;
            }
        }
        let mut reach = 0u64;
        for i in 0..self.universe.len() {
            if mask & (1 << i) != 0 {
                reach |= self.closure[i];
                wild |= self.closure_wild[i];
            }
        }
        wild || self.universe.iter().enumerate().any(|(i, t)| reach & (1 << i) != 0 && accepts(expected, t))
    }
}

/// Whether a value of type `ty` may be passed for a parameter of type `p`
/// (as the checker's `match_param` decides; `T` accepts anything here).
pub(super) fn accepts(p: &ParamType, ty: &Type) -> bool {
    match p {
        ParamType::Is(t) => ty.is_assignable_to(t),
        ParamType::OneOf(ts) => ts.iter().any(|t| ty.is_assignable_to(t)),
        ParamType::SameAsT => true,
    }
}

pub(super) fn mentions_any(ty: &Type) -> bool {
    match ty {
        Type::Any => true,
        Type::List(t) => mentions_any(t),
        _ => false,
    }
}
