//! A conformance certificate (`run --certificate FILE`): a small statement
//! of one run that anyone with the binary can check (`certificate verify`):
//! which contract (its digest) and harness judged which target (its name
//! and endpoints, never credentials), with which cases (seed and
//! selection), and per rule how many cases passed, violated it or left it
//! undecided, with the findings behind every violation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::contract::{Contract, Severity};
use crate::report::Summary;

pub const FORMAT: &str = "nic-conformance certificate 1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub format: String,
    /// SHA-256 of the contract the run judged by (`Contract::digest`).
    pub contract_digest: String,
    pub harness_version: String,
    pub target: CertifiedTarget,
    pub seed: u64,
    /// The `run` arguments that chose the cases (budget, kinds, operations, shard …).
    pub selection: Vec<String>,
    pub started: String,
    pub ended: String,
    pub exit_code: i32,
    pub rules: Vec<RuleCount>,
    /// Every finding the run reported, with the cases that showed it.
    pub findings: Vec<CertifiedFinding>,
    /// Findings a baseline accepted, with the entry's reason.
    pub accepted: Vec<CertifiedFinding>,
    /// The vendor's ed25519 signature over everything above (`run --sign-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Seal>,
}

/// An ed25519 signature over the certificate without its `signature` field
/// (its compact JSON, fields in the order written), with the public key
/// that makes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    pub algorithm: String,
    /// The verifying key, 32 bytes as hex.
    pub public_key: String,
    /// The signature, 64 bytes as hex.
    pub value: String,
}

const ED25519: &str = "ed25519";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifiedTarget {
    pub name: String,
    /// The target file the run read (none: the built-in mock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Base URLs without user or password.
    pub endpoints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCount {
    pub id: String,
    pub severity: Severity,
    pub exercised: u64,
    pub passed: u64,
    pub violated: u64,
    pub undecided: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifiedFinding {
    pub id: String,
    pub severity: Severity,
    pub cases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the run was, besides its summary.
pub struct RunFacts<'a> {
    pub target_name: &'a str,
    pub target_file: Option<String>,
    pub endpoints: Vec<String>,
    pub selection: Vec<String>,
    pub started: String,
    pub ended: String,
    pub exit_code: i32,
}

impl Certificate {
    pub fn of(summary: &Summary, contract: &Contract, facts: RunFacts) -> Certificate {
        let rules = summary
            .rules
            .iter()
            .map(|(id, s)| RuleCount {
                id: id.clone(),
                severity: contract.severity_of(id),
                exercised: s.exercised,
                passed: s.exercised.saturating_sub(s.violated + s.undecided),
                violated: s.violated,
                undecided: s.undecided,
            })
            .collect();
        let reasons: BTreeMap<&str, &str> = (summary.baseline.iter())
            .flat_map(|b| &b.entries)
            .map(|e| (e.id.as_str(), e.reason.as_str()))
            .collect();
        let finding = |f: &crate::report::DedupedFinding, accepted: bool| CertifiedFinding {
            id: f.first.id.clone(),
            severity: f.first.severity,
            cases: f.cases.clone(),
            reason: if accepted {
                reasons.get(f.first.id.as_str()).map(|r| r.to_string())
            } else {
                None
            },
        };
        Certificate {
            format: FORMAT.into(),
            contract_digest: contract.digest.clone(),
            harness_version: env!("CARGO_PKG_VERSION").into(),
            target: CertifiedTarget {
                name: facts.target_name.into(),
                file: facts.target_file,
                endpoints: facts.endpoints,
            },
            seed: summary.seed,
            selection: facts.selection,
            started: facts.started,
            ended: facts.ended,
            exit_code: facts.exit_code,
            rules,
            findings: summary
                .findings
                .values()
                .map(|f| finding(f, false))
                .collect(),
            accepted: summary
                .accepted
                .values()
                .map(|f| finding(f, true))
                .collect(),
            signature: None,
        }
    }

    /// The bytes a signature covers: the certificate without its signature.
    fn signed_bytes(&self) -> Vec<u8> {
        let bare = Certificate {
            signature: None,
            ..self.clone()
        };
        serde_json::to_vec(&bare).unwrap_or_default()
    }

    /// Signs the certificate with `key`.
    pub fn sign(&mut self, key: &ed25519_dalek::SigningKey) {
        use ed25519_dalek::Signer;
        let signature = key.sign(&self.signed_bytes());
        self.signature = Some(Seal {
            algorithm: ED25519.into(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            value: hex::encode(signature.to_bytes()),
        });
    }

    /// Whether the signature holds, with `expected` the vendor's public key
    /// (without it, only that the key written beside it made it): the
    /// problem, if any; `Ok(None)` for an unsigned certificate.
    pub fn check_signature(
        &self,
        expected: Option<&ed25519_dalek::VerifyingKey>,
    ) -> Result<Option<String>, String> {
        let Some(seal) = &self.signature else {
            return match expected {
                Some(_) => Err("the certificate is not signed, and a public key was given".into()),
                None => Ok(None),
            };
        };
        if seal.algorithm != ED25519 {
            return Err(format!(
                "signature algorithm `{}`, this binary checks ed25519",
                seal.algorithm
            ));
        }
        let key = keys::verifying_key(&seal.public_key)?;
        if let Some(e) = expected
            && e != &key
        {
            return Err(format!(
                "signed with key {}, not the public key given",
                seal.public_key
            ));
        }
        let bytes: [u8; 64] = (hex::decode(&seal.value).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or("the signature is not 64 bytes of hex")?;
        key.verify_strict(
            &self.signed_bytes(),
            &ed25519_dalek::Signature::from_bytes(&bytes),
        )
        .map_err(|_| {
            "the signature does not match the certificate: it was changed after signing".to_string()
        })?;
        Ok(Some(seal.public_key.clone()))
    }

    /// Everything that makes the certificate untrustworthy for this binary:
    /// another contract, counts that do not add up or disagree with the
    /// findings listed. Empty when it verifies.
    pub fn problems(&self, contract: &Contract) -> Vec<String> {
        let mut problems = Vec::new();
        if self.format != FORMAT {
            problems.push(format!(
                "format `{}`, this binary reads `{FORMAT}`",
                self.format
            ));
        }
        if self.contract_digest != contract.digest {
            problems.push(format!(
                "made with another contract (digest {}); this binary's is {}: the counts cannot be checked against it",
                self.contract_digest, contract.digest
            ));
        }
        let mut shown: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for f in self.findings.iter().chain(&self.accepted) {
            shown
                .entry(&f.id)
                .or_default()
                .extend(f.cases.iter().map(String::as_str));
        }
        for r in &self.rules {
            if r.passed + r.violated + r.undecided != r.exercised {
                problems.push(format!(
                    "{}: {} passed + {} violated + {} undecided is not the {} exercised",
                    r.id, r.passed, r.violated, r.undecided, r.exercised
                ));
            }
            let listed = shown.get(r.id.as_str()).map_or(0, BTreeSet::len) as u64;
            if listed != r.violated {
                problems.push(format!(
                    "{}: {} violated, but the findings list {listed} case(s)",
                    r.id, r.violated
                ));
            }
            if self.contract_digest == contract.digest && contract.severity_of(&r.id) != r.severity
            {
                problems.push(format!(
                    "{}: severity {}, the contract says {}",
                    r.id,
                    r.severity,
                    contract.severity_of(&r.id)
                ));
            }
        }
        problems
    }

    /// The command that runs the same cases again.
    pub fn rerun_command(&self) -> String {
        let mut line = String::from("nic-conformance run");
        if let Some(file) = &self.target.file {
            line.push_str(&format!(" --target {file}"));
        }
        line.push_str(&format!(" --seed {}", self.seed));
        for arg in &self.selection {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }
}

/// Key files: one line of hex (a 32-byte ed25519 secret seed, or a 32-byte public key).
pub mod keys {
    use std::path::Path;

    use ed25519_dalek::{SigningKey, VerifyingKey};

    fn bytes(text: &str) -> Result<[u8; 32], String> {
        (hex::decode(text.trim()).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "not 32 bytes of hex on one line".to_string())
    }

    pub fn verifying_key(text: &str) -> Result<VerifyingKey, String> {
        VerifyingKey::from_bytes(&bytes(text)?)
            .map_err(|e| format!("not an ed25519 public key: {e}"))
    }

    pub fn read_signing(path: &Path) -> Result<SigningKey, String> {
        let text = crate::files::read_text_capped(path, 4096).map_err(|e| e.to_string())?;
        Ok(SigningKey::from_bytes(&bytes(&text)?))
    }

    pub fn read_verifying(path: &Path) -> Result<VerifyingKey, String> {
        verifying_key(&crate::files::read_text_capped(path, 4096).map_err(|e| e.to_string())?)
    }

    /// A fresh key pair: (secret seed as hex, public key as hex).
    pub fn generate() -> (String, String) {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        (
            hex::encode(key.to_bytes()),
            hex::encode(key.verifying_key().as_bytes()),
        )
    }
}
