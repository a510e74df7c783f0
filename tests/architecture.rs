//! The house rules a reviewer would otherwise check by eye: the top-level
//! modules depend one way (no import circle), and no file of `src/` grows
//! past 600 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Top-level module → the top-level modules its non-test code names.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let entry = deps.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                entry.insert(name);
            }
        }
    }
    deps
}

#[test]
fn the_top_level_modules_depend_one_way() {
    let deps = dependencies();
    assert!(deps.len() > 15, "{} modules", deps.len());
    // Depth-first search for a path back to where it started.
    fn reaches(
        deps: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in deps.get(from).into_iter().flatten() {
            path.push(next.clone());
            if next == to || (seen.insert(next.clone()) && reaches(deps, next, to, seen, path)) {
                return true;
            }
            path.pop();
        }
        false
    }
    for module in deps.keys() {
        let mut path = vec![module.clone()];
        if reaches(&deps, module, module, &mut BTreeSet::new(), &mut path) {
            panic!("an import circle: {}", path.join(" → "));
        }
    }
}

/// A file past 600 lines holds more than one thing: split it by what it holds.
#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for file in sources(&root.join("src")) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        if lines > 600 {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(long.is_empty(), "over 600 lines: {long:?}");
}

/// Functions whose length is one arm per case of a closed list (check
/// kinds, fault profiles, routes, value shapes): a table read row by row,
/// not a procedure read top to bottom.
const TABLE_LIKE: [&str; 4] = [
    "src/contract/check.rs: satisfy",
    "src/contract/check/breaking.rs: break_request",
    "src/generate/shape.rs: shape",
    "src/mock/faults.rs: catalogue",
];

/// A procedure past 80 lines does several things: each becomes a function
/// named for what it does. Test functions are exempt.
#[test]
fn no_function_outside_table_like_matches_is_over_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for file in sources(&root.join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let lines: Vec<&str> = text.lines().collect();
        let mut in_tests = false;
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            let Some(at) = trimmed.find("fn ") else {
                continue;
            };
            let head = &trimmed[..at];
            let is_item = head.split_whitespace().all(|w| {
                [
                    "pub",
                    "pub(crate)",
                    "pub(super)",
                    "async",
                    "const",
                    "unsafe",
                ]
                .contains(&w)
            });
            if in_tests || !is_item || trimmed.ends_with(';') {
                continue;
            }
            let name: String = trimmed[at + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let close = " ".repeat(indent) + "}";
            let Some(end) = (i + 1..lines.len()).find(|&j| {
                lines[j].starts_with(&close)
                    && lines[j].len() - lines[j].trim_start().len() == indent
            }) else {
                continue;
            };
            let length = end - i + 1;
            let id = format!("{rel}: {name}");
            if length > 80 && !TABLE_LIKE.contains(&id.as_str()) {
                long.push(format!("{id} ({length} lines)"));
            }
        }
    }
    assert!(long.is_empty(), "over 80 lines: {long:#?}");
}
