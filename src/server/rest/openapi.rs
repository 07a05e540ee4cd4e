//! The OpenAPI 3 document, generated from the route table (paths, methods, summaries, query
//! parameters, request schemas, who may call), and `/api/docs`: a page that renders it with
//! no asset from elsewhere (it works offline).

use super::{Access, Ctx, ROUTES, Reply_, json};
use serde_json::{Value, json};
use warp::http::StatusCode;

pub fn build() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let path = format!("/api/v1{}", r.path);
        let mut parameters: Vec<Value> = Vec::new();
        for segment in r.path.split('/') {
            if let (Some(open), Some(close)) = (segment.find('{'), segment.find('}')) {
                let name = &segment[open + 1..close];
                parameters
                    .push(json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }));
            }
        }
        for (name, description) in r.query {
            parameters.push(json!({ "name": name, "in": "query", "required": false, "description": description,
                "schema": { "type": "string" } }));
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method.to_lowercase(), r.path),
            "parameters": parameters,
            "responses": responses(r),
        });
        if r.access == Access::Write {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if let Some(schema) = r.body {
            let mut schema = schema();
            // The document's dialect is OpenAPI's own; a schema's marker of another is left out.
            if let Some(o) = schema.as_object_mut() {
                o.remove("$schema");
            }
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        // 3.1: its schemas are JSON Schema 2020-12, which the body schemas are written in
        // (`type: [X, "null"]` for optional fields).
        "openapi": "3.1.0",
        "info": {
            "title": "TimeSide API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Items, experiences, tasks and results of the TimeSide server. Lists are pages (?page=&page_size=) \
                of {count, next, previous, results}. Writes need `Authorization: Bearer <token>` (POST /api/v1/token). \
                Task status and progress arrive over the WebSocket at /api/v1/ws (topics task:<uuid>, item:<uuid>).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": { "Error": { "type": "object", "required": ["code", "message"],
                "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } },
        },
    })
}

/// What a route answers: on success, by what it returns (JSON, audio, an image, an export, no
/// content for a delete), and errors as `{code, message}` with a 4xx or 5xx status.
fn responses(r: &super::Route) -> Value {
    let binary = |types: &[&str]| -> Value {
        types.iter().map(|t| (t.to_string(), json!({ "schema": { "type": "string", "format": "binary" } }))).collect()
    };
    let error = json!({ "description": "an error: {code, message} (the code names what is wrong)",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let path = r.path;
    let success = if r.method == "DELETE" {
        json!({ "description": "done (no content)" })
    } else if path.contains("/stream.") || path.contains("/download/") {
        json!({ "description": "the audio (ranges with Accept-Ranges where it is a file)", "content": binary(&["audio/*"]) })
    } else if path.ends_with("spectrogram.png") {
        json!({ "description": "the image", "content": binary(&["image/png"]) })
    } else if path.contains("/peaks.") {
        json!({ "description": "peaks in audiowaveform's format", "content": {
            "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
            "application/json": { "schema": { "type": "object" } } } })
    } else if path.contains("/export.") || path.ends_with("/data") {
        json!({ "description": "the file, in the format asked for", "content": binary(&["*/*"]) })
    } else {
        json!({ "description": "success", "content": { "application/json": { "schema": { "type": "object" } } } })
    };
    json!({ "2XX": success, "4XX": error, "5XX": error })
}

/// GET /api/v1/openapi.json
pub async fn document(_: Ctx) -> Reply_ {
    Ok(json(StatusCode::OK, &build()))
}

/// GET /api/docs: every endpoint, its parameters and body schema, from the document itself.
pub fn docs_page() -> String {
    let doc = build();
    let mut rows = String::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, ops) in paths {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let params: Vec<String> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        format!(
                            "<code>{}</code> ({})",
                            escape(p["name"].as_str().unwrap_or("")),
                            escape(p["in"].as_str().unwrap_or(""))
                        )
                    })
                    .collect();
                let body = op.get("requestBody").map(|b| {
                    let schema =
                        serde_json::to_string_pretty(&b["content"]["application/json"]["schema"]).unwrap_or_default();
                    format!("<details><summary>JSON body</summary><pre>{}</pre></details>", escape(&schema))
                });
                rows.push_str(&format!(
                    "<tr><td class=m>{}</td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td></tr>\n",
                    method.to_uppercase(),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or("")),
                    body.unwrap_or_default(),
                    params.join(", "),
                    if op.get("security").is_some() { "token" } else { "anyone" },
                ));
            }
        }
    }
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>TimeSide API</title>\
         <meta name=viewport content='width=device-width, initial-scale=1'>\
         <style>body{{font:15px/1.45 system-ui,sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse;width:100%}}\
         td,th{{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}}.m{{font-weight:600}}\
         pre{{background:#f6f6f6;padding:.5em;overflow:auto}}</style></head><body>\
         <h1>TimeSide API {}</h1><p>{}</p><p>The machine-readable document: <a href=/api/v1/openapi.json>/api/v1/openapi.json</a> (OpenAPI 3). \
         Errors are <code>{{\"code\", \"message\"}}</code>.</p>\
         <table><thead><tr><th>Method</th><th>Path</th><th>What</th><th>Parameters</th><th>Who</th></tr></thead><tbody>{rows}</tbody></table></body></html>",
        env!("CARGO_PKG_VERSION"),
        escape(doc["info"]["description"].as_str().unwrap_or("")),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
