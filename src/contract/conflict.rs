//! Documentation conflicts: where a page contradicts itself, and what the harness decided.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocConflict {
    pub id: String,
    pub page: String,
    /// What conflicts with what.
    pub conflict: String,
    pub decision: String,
    pub why: String,
    /// Schema keywords or rules that the page's own example breaks because of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<String>,
}
