//! JSON pointers with `*` for "every element", and edits at a pointer.

use serde_json::{Map, Value};

fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

/// The concrete pointers that `pattern` selects in `root` (only those that exist).
pub fn expand(root: &Value, pattern: &str) -> Vec<String> {
    if !pattern.contains('*') {
        // No wildcard: the pattern is its only match (the common case, on every request).
        return if get(root, pattern).is_some() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let mut found = vec![(String::new(), root)];
    for token in pattern.split('/').skip(1) {
        let mut next = Vec::new();
        for (ptr, node) in found {
            if token == "*" {
                if let Value::Array(items) = node {
                    for (i, item) in items.iter().enumerate() {
                        next.push((child_pointer(&ptr, &i.to_string()), item));
                    }
                }
            } else {
                let child = match node {
                    Value::Object(map) => map.get(unescape(token).as_ref()),
                    Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => None,
                };
                if let Some(child) = child {
                    next.push((child_pointer(&ptr, token), child));
                }
            }
        }
        found = next;
    }
    found.into_iter().map(|(p, _)| p).collect()
}

/// The values `pattern` selects in `root`, without building their pointers
/// (what the mock's rule checks need on every request).
pub fn select<'v>(root: &'v Value, pattern: &str) -> Vec<&'v Value> {
    select_tokens(root, pattern.split('/').skip(1))
}

/// The values a relative `field` pattern (`port_id`, `fixed_ips/*`) selects under `node`.
pub fn select_under<'v>(node: &'v Value, field: &str) -> Vec<&'v Value> {
    select_tokens(node, field.split('/'))
}

fn select_tokens<'v, 't>(
    root: &'v Value,
    tokens: impl Iterator<Item = &'t str> + Clone,
) -> Vec<&'v Value> {
    let mut found = Vec::new();
    walk(root, tokens, &mut found);
    found
}

/// Depth first, into one list: the matches come out in document order, as
/// level by level would give them, with no list per level.
fn walk<'v, 't>(
    node: &'v Value,
    mut tokens: impl Iterator<Item = &'t str> + Clone,
    found: &mut Vec<&'v Value>,
) {
    let Some(token) = tokens.next() else {
        found.push(node);
        return;
    };
    let child = match (token, node) {
        ("*", Value::Array(items)) => {
            for item in items {
                walk(item, tokens.clone(), found);
            }
            return;
        }
        ("*", _) => None,
        (_, Value::Object(map)) => map.get(unescape(token).as_ref()),
        (_, Value::Array(items)) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    };
    if let Some(child) = child {
        walk(child, tokens, found);
    }
}

/// The value at a relative `field` path (no wildcards) under `node`.
pub fn get_under<'v>(node: &'v Value, field: &str) -> Option<&'v Value> {
    let mut node = node;
    for token in field.split('/') {
        node = match node {
            Value::Object(map) => map.get(unescape(token).as_ref())?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// `Value::pointer`, without unescaping tokens that have nothing to unescape
/// (rules read pointers on every request the mock serves).
fn child_pointer(parent: &str, token: &str) -> String {
    let mut s = String::with_capacity(parent.len() + token.len() + 1);
    s.push_str(parent);
    s.push('/');
    s.push_str(token);
    s
}

pub fn get<'v>(root: &'v Value, ptr: &str) -> Option<&'v Value> {
    if ptr.is_empty() {
        return Some(root);
    }
    let mut node = root;
    for token in ptr.strip_prefix('/')?.split('/') {
        node = match node {
            Value::Object(map) => map.get(unescape(token).as_ref())?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Sets the value at `ptr`, creating missing objects on the way.
pub fn set(root: &mut Value, ptr: &str, value: Value) {
    let tokens: Vec<String> = ptr
        .split('/')
        .skip(1)
        .map(|t| unescape(t).into_owned())
        .collect();
    let Some((last, parents)) = tokens.split_last() else {
        *root = value;
        return;
    };
    let mut node = root;
    for token in parents {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        node = match node {
            Value::Object(map) => map.entry(token.clone()).or_insert(Value::Null),
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
    }
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

/// Removes the value at `ptr` (an object member or an array element).
pub fn remove(root: &mut Value, ptr: &str) -> Option<Value> {
    let (parent, last) = ptr.rsplit_once('/')?;
    let last = unescape(last);
    match root.pointer_mut(parent)? {
        Value::Object(map) => map.shift_remove(last.as_ref()),
        Value::Array(items) => {
            let i = last.parse::<usize>().ok()?;
            (i < items.len()).then(|| items.remove(i))
        }
        _ => None,
    }
}

/// Whether `ptr` is inside, or contains, one of `locks` (a field whose presence a break fixed).
pub fn is_locked(ptr: &str, locks: &[String]) -> bool {
    locks.iter().any(|l| {
        let l = l.strip_prefix('=').unwrap_or(l);
        ptr == l || ptr.starts_with(&format!("{l}/")) || l.starts_with(&format!("{ptr}/"))
    })
}

/// Whether the value at `ptr` was fixed by a break (locks written `=pointer`).
/// Presence locks leave the value free, so an added field can still get a valid id.
pub fn is_value_locked(ptr: &str, locks: &[String]) -> bool {
    locks.iter().any(|l| l.strip_prefix('=') == Some(ptr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expands_wildcards() {
        let v = json!({"body": {"nics": [{"a": 1}, {"b": 2}, {"a": 3}]}});
        assert_eq!(
            expand(&v, "/body/nics/*"),
            ["/body/nics/0", "/body/nics/1", "/body/nics/2"]
        );
        assert_eq!(
            expand(&v, "/body/nics/*/a"),
            ["/body/nics/0/a", "/body/nics/2/a"]
        );
        assert!(expand(&v, "/body/x/*").is_empty());
    }

    #[test]
    fn select_finds_what_expand_points_at() {
        let v = json!({"body": {"nics": [{"a": 1, "f": [{"x": 5}]}, {"b": 2}, {"a": 3}]}});
        for pattern in [
            "/body/nics/*",
            "/body/nics/*/a",
            "/body/x/*",
            "/body/nics/1/b",
        ] {
            let by_pointer: Vec<&Value> = expand(&v, pattern)
                .iter()
                .map(|p| get(&v, p).unwrap())
                .collect();
            assert_eq!(select(&v, pattern), by_pointer, "{pattern}");
        }
        let nic = &v["body"]["nics"][0];
        assert_eq!(select_under(nic, "f/*/x"), [&json!(5)]);
        assert_eq!(get_under(nic, "f/0/x"), Some(&json!(5)));
        assert_eq!(get_under(nic, "b"), None);
    }

    #[test]
    fn set_creates_parents_and_remove_deletes() {
        let mut v = json!({"body": null});
        set(&mut v, "/body/a/b", json!(1));
        assert_eq!(v, json!({"body": {"a": {"b": 1}}}));
        assert_eq!(remove(&mut v, "/body/a/b"), Some(json!(1)));
        assert_eq!(v, json!({"body": {"a": {}}}));
    }

    #[test]
    fn locks_cover_parents_and_children() {
        let locks = vec!["/body/x".to_string()];
        assert!(is_locked("/body/x/0", &locks));
        assert!(is_locked("/body", &locks));
        assert!(!is_locked("/body/xy", &locks));
    }
}
