//! The order in which stylesheets are fingerprinted: a CSS file's final
//! name depends on the names of the CSS files it references, so those come
//! first (a depth-first topological order). A reference cycle cannot be
//! ordered and is an error that names it.

use std::collections::{BTreeMap, BTreeSet};

use super::BuildError;

/// Orders `nodes` so that each comes after every node it depends on.
/// `deps` gives each node's dependencies among `nodes` (others are ignored).
pub fn order(nodes: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, BuildError> {
    let mut done = BTreeSet::new();
    let mut out = Vec::with_capacity(nodes.len());
    for start in nodes.keys() {
        let mut path = Vec::new();
        visit(start, nodes, &mut done, &mut path, &mut out)?;
    }
    Ok(out)
}

fn visit(
    node: &str,
    nodes: &BTreeMap<String, Vec<String>>,
    done: &mut BTreeSet<String>,
    path: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), BuildError> {
    if done.contains(node) {
        return Ok(());
    }
    if let Some(i) = path.iter().position(|p| p == node) {
        let mut cycle = path[i..].to_vec();
        cycle.push(node.to_string());
        return Err(BuildError::Cycle {
            cycle: cycle.join(" -> "),
        });
    }
    path.push(node.to_string());
    for dep in nodes.get(node).into_iter().flatten() {
        if nodes.contains_key(dep) {
            visit(dep, nodes, done, path, out)?;
        }
    }
    path.pop();
    done.insert(node.to_string());
    out.push(node.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn dependencies_come_first() {
        let o = order(&g(&[
            ("a.css", &["b.css", "img.png"]),
            ("b.css", &["c.css"]),
            ("c.css", &[]),
        ]))
        .unwrap();
        assert_eq!(o, vec!["c.css", "b.css", "a.css"]);
    }

    #[test]
    fn cycles_are_named() {
        let e = order(&g(&[("a.css", &["b.css"]), ("b.css", &["a.css"])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.css -> b.css -> a.css"), "{e}");
        let e = order(&g(&[("a.css", &["a.css"])])).unwrap_err().to_string();
        assert!(e.contains("a.css -> a.css"), "{e}");
    }
}
