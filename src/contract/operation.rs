//! The operations catalogue (`schemas/operations.json`).

use serde::{Deserialize, Serialize};

use crate::contract::{Expect, StatusClass};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Elastic Cloud Server endpoint.
    Ecs,
    /// Virtual Private Cloud endpoint.
    Vpc,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Ecs => "ecs",
            Service::Vpc => "vpc",
        })
    }
}

/// The error body shapes of the API families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorFamily {
    /// `{"error": {"code", "message"}}`
    #[serde(rename = "ecs-v1")]
    EcsV1,
    /// `{"badRequest": {"code", "message"}}` and siblings.
    #[serde(rename = "nova")]
    Nova,
    /// `{"request_id", "error_code", "error_msg"}`
    #[serde(rename = "vpc-v3")]
    VpcV3,
    /// The API gateway's answer to failed authentication.
    #[serde(rename = "apigw")]
    ApiGateway,
}

impl ErrorFamily {
    pub fn key(self) -> &'static str {
        match self {
            ErrorFamily::EcsV1 => "ecs-v1",
            ErrorFamily::Nova => "nova",
            ErrorFamily::VpcV3 => "vpc-v3",
            ErrorFamily::ApiGateway => "apigw",
        }
    }
}

/// Whether a documented response has a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyPresence {
    #[default]
    Json,
    /// The page says there is no body.
    None,
    /// The page does not say; a JSON body or none.
    Optional,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    pub status: u16,
    pub schema: Option<String>,
    #[serde(default)]
    pub body: BodyPresence,
}

/// State a case of the operation needs before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setup {
    /// The spare port is attached to the server first (so it can be deleted).
    SparePortAttached,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub id: String,
    pub title: String,
    pub page: String,
    pub service: Service,
    pub method: String,
    /// Template with `{name}` path parameters.
    pub path: String,
    pub path_schema: String,
    pub request_schema: Option<String>,
    pub responses: Vec<ResponseSpec>,
    /// The usual success status.
    pub success_status: u16,
    /// Whether the page prints the success status. Where it does not, any
    /// 2xx is a success (`success_status` is only the usual one).
    pub success_status_printed: bool,
    #[serde(rename = "async")]
    pub is_async: bool,
    pub error_family: ErrorFamily,
    /// Not one of the documented operations; used to observe state.
    #[serde(default)]
    pub auxiliary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
}

impl Operation {
    /// The names of the path parameters, in order.
    pub fn path_params(&self) -> Vec<&str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }

    /// The path with every parameter filled in, percent-encoded as a path segment.
    pub fn render_path(&self, params: &serde_json::Map<String, serde_json::Value>) -> String {
        self.path
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => {
                        let value = match params.get(name) {
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        crate::signing::encode_segment(&value)
                    }
                    None => seg.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether a concrete path has the template's shape (no allocation: the mock's router).
    pub fn path_matches(&self, path: &str) -> bool {
        let mut template = self.path.split('/');
        let mut actual = path.trim_end_matches('/').split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(t), Some(a)) if t.starts_with('{') || t == a => {}
                _ => return false,
            }
        }
    }

    /// Matches a concrete path against the template, returning the parameters.
    pub fn match_path(&self, path: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut template = self.path.split('/');
        let mut actual = path.trim_end_matches('/').split('/');
        let mut params = serde_json::Map::new();
        loop {
            let (t, a) = match (template.next(), actual.next()) {
                (None, None) => return Some(params),
                (Some(t), Some(a)) => (t, a),
                _ => return None,
            };
            match t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let decoded = percent_encoding::percent_decode_str(a).decode_utf8().ok()?;
                    params.insert(
                        name.to_string(),
                        serde_json::Value::String(decoded.into_owned()),
                    );
                }
                None if t == a => {}
                None => return None,
            }
        }
    }

    /// The documented response for `status`; where the page prints no
    /// success status, another 2xx is read as the usual success.
    pub fn response(&self, status: u16) -> Option<&ResponseSpec> {
        let exact = self.responses.iter().find(|r| r.status == status);
        exact.or_else(|| {
            let success = !self.success_status_printed && (200..300).contains(&status);
            success
                .then(|| {
                    self.responses
                        .iter()
                        .find(|r| r.status == self.success_status)
                })
                .flatten()
        })
    }

    /// What a conforming server answers to a valid request: the printed
    /// status, or any 2xx where the page prints none.
    pub fn success_expect(&self) -> Expect {
        if self.success_status_printed {
            return Expect::exact(self.success_status);
        }
        Expect {
            status: None,
            class: Some(StatusClass::Success),
            mock_status: Some(self.success_status),
            async_fail_ok: false,
        }
    }
}
