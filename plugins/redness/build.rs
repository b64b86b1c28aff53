//! Checks that wit-view/plugin.wit is plugin/wit/since_v0.1.0/plugin.wit (the frozen contract) with the one change src/contract.rs relies on.

use std::fs;

const REAL: &str = "../../plugin/wit/since_v0.1.0/plugin.wit";
const VIEW: &str = "wit-view/plugin.wit";
const BORROWS: &str = "        frames(list<borrow<frame>>),";
const HANDLES: &str = "        frames(list<u32>),";

fn main() {
    println!("cargo:rerun-if-changed={REAL}");
    println!("cargo:rerun-if-changed={VIEW}");
    let real = fs::read_to_string(REAL).expect("reading the contract plugin/wit/since_v0.1.0/plugin.wit");
    let view = fs::read_to_string(VIEW).expect("reading wit-view/plugin.wit");
    let view_body: String = view.lines().skip(2).map(|l| format!("{l}\n")).collect();
    let expected = real.replace(BORROWS, HANDLES);
    if real == expected || view_body.trim_end() != expected.trim_end() {
        panic!(
            "wit-view/plugin.wit is out of step with plugin/wit/since_v0.1.0/plugin.wit; regenerate it with\n  \
             {{ head -2 {VIEW}; sed 's|{BORROWS}|{HANDLES}|' {REAL}; }} > {VIEW}.new && mv {VIEW}.new {VIEW}"
        );
    }
}
