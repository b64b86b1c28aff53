//! Property: printing any program and parsing it back gives the same program,
//! and printing is idempotent.

use proptest::prelude::*;
use vprog_grammar::*;

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}"
        .prop_filter("not a keyword", |s| !matches!(s.as_str(), "answer" | "for" | "in" | "if" | "and" | "or" | "not" | "true" | "false"))
}

fn id(name: String) -> Ident {
    Ident { name, span: Span::default() }
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: Span::default() }
}

fn literal() -> impl Strategy<Value = Literal> {
    let unit = prop_oneof![Just(TimeUnit::Millis), Just(TimeUnit::Seconds), Just(TimeUnit::Minutes), Just(TimeUnit::Hours)];
    prop_oneof![
        any::<i64>().prop_map(Literal::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Literal::Float),
        "[ -~\\n\\t\"\\\\é→]{0,12}".prop_map(Literal::Str),
        any::<bool>().prop_map(Literal::Bool),
        (0u64..10_000_000_000, unit).prop_map(|(millis, unit)| Literal::Duration { millis, unit }),
        (0u64..400_000_000).prop_map(|millis| Literal::Timestamp { millis }),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::Or),
        Just(BinaryOp::And),
        Just(BinaryOp::Eq),
        Just(BinaryOp::Ne),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Le),
        Just(BinaryOp::Gt),
        Just(BinaryOp::Ge),
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
        Just(BinaryOp::Mul),
        Just(BinaryOp::Div),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![literal().prop_map(|l| e(ExprKind::Literal(l))), ident().prop_map(|n| e(ExprKind::Var(n)))];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let arg = (proptest::option::of(ident()), inner.clone()).prop_map(|(name, value)| Arg {
            name: name.map(id),
            value,
            span: Span::default(),
        });
        prop_oneof![
            (ident(), prop::collection::vec(arg, 0..4)).prop_map(|(callee, mut args)| {
                // Positional arguments come first, as the grammar's users write them.
                args.sort_by_key(|a| a.name.is_some());
                e(ExprKind::Call { callee: id(callee), args })
            }),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| e(ExprKind::List(items))),
            (inner.clone(), ident(), inner.clone(), proptest::option::of(inner.clone())).prop_map(|(body, var, source, filter)| e(
                ExprKind::Comprehension { body: Box::new(body), var: id(var), source: Box::new(source), filter: filter.map(Box::new) }
            )),
            (prop_oneof![Just(UnaryOp::Not), Just(UnaryOp::Neg)], inner.clone())
                .prop_map(|(op, operand)| e(ExprKind::Unary { op, operand: Box::new(operand) })),
            (binary_op(), inner.clone(), inner).prop_map(|(op, lhs, rhs)| e(ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs)
            })),
        ]
    })
}

fn program() -> impl Strategy<Value = Program> {
    (prop::collection::vec((ident(), expr()), 0..5), expr()).prop_map(|(binds, answer)| {
        let mut statements: Vec<Statement> = binds
            .into_iter()
            .map(|(name, value)| Statement { kind: StatementKind::Bind { name: id(name), value }, span: Span::default() })
            .collect();
        statements.push(Statement { kind: StatementKind::Answer(answer), span: Span::default() });
        Program { statements }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_print_roundtrip(p in program()) {
        let printed = print_program(&p);
        let parsed = parse(&printed).map_err(|d| TestCaseError::fail(format!("{printed}\n{d:?}")))?;
        prop_assert_eq!(parsed.without_spans(), p.without_spans(), "printed:\n{}", printed);
        prop_assert_eq!(print_program(&parsed), printed);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }
}
