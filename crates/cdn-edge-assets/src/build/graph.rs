//! The order in which stylesheets are fingerprinted: a CSS file's final
//! name depends on the names of the CSS files it references, so those come
//! first (a depth-first topological order). A reference cycle cannot be
//! ordered and is an error that names it. ES modules may import each
//! other in a cycle: [`components`] groups them (strongly connected
//! components), each group after the groups it depends on.

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

/// The strongly connected components of `nodes` (Tarjan's algorithm),
/// each after every component it depends on; a component of more than one
/// node, or of a node that depends on itself, is a cycle. Nodes within a
/// component are sorted.
pub fn components(nodes: &BTreeMap<String, Vec<String>>) -> Vec<Vec<String>> {
    let mut t = Tarjan {
        nodes,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for n in nodes.keys() {
        if !t.index.contains_key(n.as_str()) {
            t.visit(n);
        }
    }
    t.out
}

/// Whether a component is a cycle.
pub fn is_cycle(component: &[String], nodes: &BTreeMap<String, Vec<String>>) -> bool {
    match component {
        [one] => nodes.get(one).is_some_and(|d| d.contains(one)),
        _ => true,
    }
}

struct Tarjan<'g> {
    nodes: &'g BTreeMap<String, Vec<String>>,
    index: BTreeMap<&'g str, usize>,
    low: BTreeMap<&'g str, usize>,
    stack: Vec<&'g str>,
    on_stack: BTreeSet<&'g str>,
    out: Vec<Vec<String>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, node: &'g str) {
        let i = self.index.len();
        self.index.insert(node, i);
        self.low.insert(node, i);
        self.stack.push(node);
        self.on_stack.insert(node);
        for dep in self.nodes.get(node).into_iter().flatten() {
            let Some((dep, _)) = self.nodes.get_key_value(dep) else {
                continue;
            };
            let dep = dep.as_str();
            if !self.index.contains_key(dep) {
                self.visit(dep);
                let l = self.low[dep].min(self.low[node]);
                self.low.insert(node, l);
            } else if self.on_stack.contains(dep) {
                let l = self.index[dep].min(self.low[node]);
                self.low.insert(node, l);
            }
        }
        if self.low[node] == self.index[node] {
            let mut component = Vec::new();
            while let Some(n) = self.stack.pop() {
                self.on_stack.remove(n);
                component.push(n.to_string());
                if n == node {
                    break;
                }
            }
            component.sort();
            self.out.push(component);
        }
    }
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

    #[test]
    fn components_come_dependencies_first() {
        let nodes = g(&[
            ("main.js", &["a.js", "c1.js"]),
            ("a.js", &["leaf.js"]),
            ("leaf.js", &[]),
            ("c1.js", &["c2.js", "leaf.js"]),
            ("c2.js", &["c1.js"]),
            ("self.js", &["self.js"]),
        ]);
        let c = components(&nodes);
        let pos = |n: &str| c.iter().position(|x| x.iter().any(|y| y == n)).unwrap();
        assert!(pos("leaf.js") < pos("a.js") && pos("a.js") < pos("main.js"));
        assert!(pos("c1.js") < pos("main.js"));
        assert_eq!(c[pos("c1.js")], ["c1.js", "c2.js"]);
        assert!(is_cycle(&c[pos("c1.js")], &nodes));
        assert!(is_cycle(&c[pos("self.js")], &nodes));
        assert!(!is_cycle(&c[pos("a.js")], &nodes));
    }
}
