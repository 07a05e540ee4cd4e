//! Parameters: typed structs from JSON, TOML or `key=value` pairs, with errors that name the
//! processor, the parameter and what is allowed.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A processor's parameter struct. Every field has a documented default (`#[serde(default)]`),
/// unknown fields are refused (`deny_unknown_fields`).
pub trait Params: DeserializeOwned + Serialize + schemars::JsonSchema + Default {
    /// Checks value ranges that types cannot express. Each message names the parameter.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

/// For processors without parameters: accepts only an empty table.
#[derive(Debug, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Params for NoParams {}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{processor}: {message}")]
pub struct ParamError {
    pub processor: String,
    pub message: String,
}

/// Parses `value` (a JSON object; null means all defaults) into `P`, then validates it.
pub fn parse<P: Params>(processor: &str, value: &serde_json::Value) -> Result<P, Vec<ParamError>> {
    let err = |message: String| ParamError { processor: processor.to_string(), message };
    let value = if value.is_null() { serde_json::json!({}) } else { value.clone() };
    if !value.is_object() {
        return Err(vec![err(format!("parameters must be a table of name = value, got {value}"))]);
    }
    let params: P = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let allowed = allowed_names::<P>();
        let message = if inner.starts_with("unknown field") {
            // serde lists the expected names already; say which parameters exist when it can't.
            format!("unknown parameter: {inner}")
        } else if path == "." {
            format!("{inner} (parameters: {allowed})")
        } else {
            format!("parameter `{path}`: {inner}")
        };
        vec![err(message)]
    })?;
    let problems = params.validate();
    if problems.is_empty() { Ok(params) } else { Err(problems.into_iter().map(err).collect()) }
}

/// The parameter names of `P`, for error messages.
pub fn allowed_names<P: schemars::JsonSchema>() -> String {
    let schema = schemars::schema_for!(P);
    let names: Vec<String> =
        schema.get("properties").and_then(|p| p.as_object()).map(|o| o.keys().cloned().collect()).unwrap_or_default();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// Parses a command-line value: JSON when it parses (numbers, booleans, arrays, quoted
/// strings), a bare string otherwise, so `window=hann` and `n_fft=1024` both work.
pub fn parse_cli_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// Converts a TOML table of parameters to JSON.
pub fn toml_to_json(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => s.into(),
        toml::Value::Integer(i) => i.into(),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into),
        toml::Value::Boolean(b) => b.into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.into_iter().map(toml_to_json).collect(),
        toml::Value::Table(t) => t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect(),
    }
}

/// Range check helper: `name` must satisfy `ok`, else `message`.
pub fn check(problems: &mut Vec<String>, ok: bool, name: &str, message: impl std::fmt::Display) {
    if !ok {
        problems.push(format!("parameter `{name}`: {message}"));
    }
}
