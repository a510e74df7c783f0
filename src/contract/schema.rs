//! One JSON Schema of the contract: compiled, with an id for every keyword.
//!
//! A keyword's id is the schema's name, `#`, and the JSON pointer of the
//! keyword inside the schema document, e.g.
//! `nova-attach-interface.request#/properties/interfaceAttachment/required`.
//! The `jsonschema` crate reports a failed keyword by the same pointer
//! (`schema_path`), so a finding can always name exactly what was broken.

use jsonschema::{Draft, Validator};
use serde_json::Value;

use super::basis;
use super::formats::{CUSTOM_FORMATS, STANDARD_FORMATS};
use super::{Basis, ContractError, ContractErrorKind, Severity};

/// Keywords that constrain an instance (annotations such as `description` are not).
pub const VALIDATION_KEYWORDS: &[&str] = &[
    "type",
    "required",
    "format",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "enum",
    "minItems",
    "maxItems",
    "additionalProperties",
    "minProperties",
    "maxProperties",
];

/// Keywords that hold subschemas the walker descends into.
const APPLICATOR_KEYWORDS: &[&str] = &[
    "properties",
    "items",
    "additionalProperties",
    "propertyNames",
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Keyword {
    /// `schema#/pointer/to/keyword`
    pub id: String,
    /// The keyword's name, e.g. `maxLength`.
    pub keyword: String,
    /// Pointer of the subschema holding the keyword.
    pub subschema: String,
    /// The table row the subschema documents (its `description`), for reports.
    pub source: String,
    /// What the keyword rests on; its severity follows from this alone.
    pub basis: Basis,
    /// `must` where the page states the constraint; `should` where a word
    /// only implies it or it is borrowed from another table or page.
    pub severity: Severity,
    /// Why the keyword has that severity.
    pub severity_reason: String,
    /// The page text a stated keyword quotes (normalized as [`super::basis::normalize`] reads it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quotes: Vec<String>,
}

/// What a keyword rests on, with why and the page text it quotes: a node's
/// `x-stated` maps keyword names to the cell or sentence that states them
/// (one quote, or one per name of a `required` list); `x-should` maps them
/// to the reason they are only implied (its first word may name the basis:
/// `example:`, `borrowed:`, `practice:`); a document's `x-should-all`
/// borrows the whole schema. A keyword nothing states is implied.
fn basis_of_keyword(
    schema: &str,
    document: &Value,
    node: &Value,
    keyword: &str,
) -> (Basis, String, Vec<String>) {
    if keyword == "additionalProperties" && !schema.ends_with(".request") {
        return (
            Basis::Practice,
            "practice: no page says an answer has no other fields (real clouds add some): an undocumented field is worth a note, not a failure".into(),
            Vec::new(),
        );
    }
    if let Some(reason) = node
        .get("x-should")
        .and_then(|m| m.get(keyword))
        .and_then(Value::as_str)
    {
        return (
            Basis::from_reason(reason, Basis::Implied),
            reason.to_string(),
            Vec::new(),
        );
    }
    if let Some(reason) = document.get("x-should-all").and_then(Value::as_str) {
        return (
            Basis::from_reason(reason, Basis::Borrowed),
            reason.to_string(),
            Vec::new(),
        );
    }
    let quotes: Vec<String> = match node.get("x-stated").and_then(|m| m.get(keyword)) {
        Some(Value::String(q)) => vec![q.clone()],
        Some(Value::Array(qs)) => qs
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    if quotes.is_empty() {
        let reason = match keyword {
            "required" if !schema.ends_with(".request") && !schema.ends_with(".path") => {
                "implied: response tables have no Mandatory column"
            }
            "type" if schema.ends_with(".path") => {
                "implied: the URI table has no Type column (a path segment is text)"
            }
            "minLength" => "implied: the table gives no length; an empty value is read as none",
            _ => "implied: no table cell or sentence of the page states it",
        };
        return (Basis::Implied, reason.into(), Vec::new());
    }
    let reason = format!(
        "stated: \u{201c}{}\u{201d}",
        quotes.join("\u{201d}, \u{201c}")
    );
    (Basis::Stated, reason, quotes)
}

/// A stated keyword's quotes are printed on the page its schema names.
fn check_quotes(document: &Value, k: &Keyword) -> Result<(), String> {
    let named = document
        .pointer("/x-source/page")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(page) = basis::page_file(named) else {
        return Err(format!(
            "a stated keyword needs x-source.page to name a built-in page, not `{named}`"
        ));
    };
    match k.quotes.iter().find(|q| !basis::quoted_on(page, q)) {
        Some(q) => Err(format!("`{q}` is not printed on {page}")),
        None => Ok(()),
    }
}

/// A keyword the instance broke.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaViolation {
    pub id: String,
    /// Where in the instance, as a JSON pointer.
    pub instance_path: String,
    pub message: String,
}

pub struct Schema {
    pub name: String,
    pub file: String,
    pub document: Value,
    pub keywords: Vec<Keyword>,
    validator: Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Schema {
    pub fn compile(name: &str, file: &str, document: Value) -> Result<Self, ContractError> {
        let err = |pointer: String, kind| ContractError {
            file: file.to_string(),
            pointer,
            kind,
        };
        let mut keywords = Vec::new();
        collect_keywords(name, &document, String::new(), "", &mut keywords)
            .map_err(|(pointer, kind)| err(pointer, kind))?;
        for k in &mut keywords {
            let node = document.pointer(&k.subschema).unwrap_or(&Value::Null);
            (k.basis, k.severity_reason, k.quotes) =
                basis_of_keyword(name, &document, node, &k.keyword);
            k.severity = k.basis.severity();
            if k.basis == Basis::Stated {
                check_quotes(&document, k).map_err(|why| {
                    err(
                        format!("{}/x-stated/{}", k.subschema, k.keyword),
                        ContractErrorKind::Basis(why),
                    )
                })?;
            }
        }
        let mut options = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true);
        for (format, check) in CUSTOM_FORMATS {
            options = options.with_format(*format, *check);
        }
        let validator = options.build(&document).map_err(|e| {
            err(
                e.schema_path().as_str().to_string(),
                ContractErrorKind::Compile(e.to_string()),
            )
        })?;
        Ok(Schema {
            name: name.to_string(),
            file: file.to_string(),
            document,
            keywords,
            validator,
        })
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every keyword the instance breaks, each with its id.
    pub fn violations(&self, instance: &Value) -> Vec<SchemaViolation> {
        self.validator
            .iter_errors(instance)
            .map(|e| SchemaViolation {
                id: format!("{}#{}", self.name, e.schema_path().as_str()),
                instance_path: e.instance_path().as_str().to_string(),
                message: e.to_string(),
            })
            .collect()
    }

    /// The subschema at `pointer` (a schema pointer such as `/properties/nics/items`).
    pub fn subschema(&self, pointer: &str) -> Option<&Value> {
        self.document.pointer(pointer)
    }

    /// The subschema that describes the instance location `instance_pointer`
    /// (e.g. `/nics/0/port_id` → `/properties/nics/items/properties/port_id`).
    pub fn subschema_for_instance(&self, instance_pointer: &str) -> Option<(String, &Value)> {
        let mut pointer = String::new();
        let mut node = &self.document;
        for token in instance_pointer.split('/').skip(1) {
            if let Some(props) = node.get("properties").and_then(|p| p.get(token)) {
                pointer.push_str(&format!("/properties/{token}"));
                node = props;
            } else if token.parse::<usize>().is_ok() || token == "*" {
                pointer.push_str("/items");
                node = node.get("items")?;
            } else {
                return None;
            }
        }
        Some((pointer, node))
    }
}

type WalkError = (String, ContractErrorKind);

fn collect_keywords(
    schema_name: &str,
    node: &Value,
    pointer: String,
    source: &str,
    out: &mut Vec<Keyword>,
) -> Result<(), WalkError> {
    let Some(map) = node.as_object() else {
        if node.is_boolean() {
            return Ok(());
        }
        return Err((pointer, ContractErrorKind::NotASchema));
    };
    let source = map
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or(source);
    for (key, value) in map {
        if VALIDATION_KEYWORDS.contains(&key.as_str())
            && !(key == "additionalProperties" && value.is_object())
        {
            if key == "format" {
                known_format(value, &pointer)?;
            }
            out.push(Keyword {
                id: format!("{schema_name}#{pointer}/{key}"),
                keyword: key.clone(),
                subschema: pointer.clone(),
                source: source.to_string(),
                basis: Basis::Implied,
                severity: Severity::Should,
                severity_reason: String::new(),
                quotes: Vec::new(),
            });
        }
    }
    for key in APPLICATOR_KEYWORDS {
        let Some(child) = map.get(*key) else { continue };
        if *key == "properties" {
            let Some(props) = child.as_object() else {
                return Err((
                    format!("{pointer}/properties"),
                    ContractErrorKind::NotASchema,
                ));
            };
            for (name, sub) in props {
                collect_keywords(
                    schema_name,
                    sub,
                    format!("{pointer}/properties/{name}"),
                    source,
                    out,
                )?;
            }
        } else if child.is_object() {
            collect_keywords(schema_name, child, format!("{pointer}/{key}"), source, out)?;
        }
    }
    required_declared(map, &pointer)
}

/// A `format` this harness checks (standard, or one of its own).
fn known_format(value: &Value, pointer: &str) -> Result<(), WalkError> {
    let format = value.as_str().unwrap_or_default();
    let known = STANDARD_FORMATS.contains(&format)
        || CUSTOM_FORMATS.iter().any(|(name, _)| *name == format);
    if !known {
        return Err((
            format!("{pointer}/format"),
            ContractErrorKind::UnknownFormat(format.to_string()),
        ));
    }
    Ok(())
}

/// Every `required` name is a declared property (a typo would require a field nothing defines).
fn required_declared(map: &serde_json::Map<String, Value>, pointer: &str) -> Result<(), WalkError> {
    let Some(required) = map.get("required").and_then(Value::as_array) else {
        return Ok(());
    };
    let props = map.get("properties").and_then(Value::as_object);
    for (i, name) in required.iter().enumerate() {
        let known = name
            .as_str()
            .is_some_and(|n| props.is_some_and(|p| p.contains_key(n)));
        if !known {
            return Err((
                format!("{pointer}/required/{i}"),
                ContractErrorKind::RequiredNotDeclared(name.to_string()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keyword_ids_are_pointers_reported_by_the_validator() {
        let schema = Schema::compile(
            "t.request",
            "t.request.json",
            json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "maxLength": 2}}}),
        )
        .unwrap();
        let ids: Vec<_> = schema.keywords.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "t.request#/type",
                "t.request#/required",
                "t.request#/properties/a/type",
                "t.request#/properties/a/maxLength"
            ]
        );
        let v = schema.violations(&json!({"a": "abc"}));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].id, "t.request#/properties/a/maxLength");
        assert_eq!(v[0].instance_path, "/a");
    }

    #[test]
    fn unknown_format_names_the_pointer() {
        let e = Schema::compile(
            "t",
            "t.json",
            json!({"properties": {"a": {"format": "uuuid"}}}),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/properties/a/format");
        assert!(e.to_string().contains("t.json"), "{e}");
    }

    #[test]
    fn required_property_must_be_declared() {
        let e = Schema::compile(
            "t",
            "t.json",
            json!({"required": ["b"], "properties": {"a": {}}}),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/required/0");
    }
}
