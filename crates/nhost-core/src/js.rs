//! JSON text in the browser: the JavaScript engine's own `JSON.parse` / `JSON.stringify`, with
//! the values carried across as [`serde_json::Value`] (mapped to the crate's types by `json.rs`).
//! This keeps serde_json's parser and printer out of the wasm bundle.

use js_sys::{Array, JSON, Object, Uint8Array};
use serde_json::{Map, Number, Value};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast as _, JsValue};

// The platform's base64 and SHA-256, global in windows and workers alike: with them the bundle
// carries neither the `base64` crate nor sha2 (nhost-yew's README has the bytes).
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch)]
    fn btoa(binary: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(catch)]
    fn atob(text: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = digest)]
    fn subtle_digest(algorithm: &str, data: &[u8]) -> Result<js_sys::Promise, JsValue>;
}

/// Unpadded base64url of `bytes`: `btoa` of their "binary string" (one character per byte),
/// then the URL-safe alphabet.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    let binary: String = bytes.iter().copied().map(char::from).collect();
    // `btoa` refuses only characters beyond U+00FF, which `char::from(u8)` never makes.
    btoa(&binary)
        .unwrap_or_default()
        .chars()
        .filter(|&c| c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

/// The bytes of base64url `text` (padding optional): the standard alphabet, then `atob`, whose
/// forgiving decode skips whitespace and ignores stray low bits. `None` when it is not base64.
pub(crate) fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    // Every character of `atob`'s answer is one byte: U+0000 to U+00FF.
    atob(&standard)
        .ok()
        .map(|binary| binary.chars().map(|c| c as u8).collect())
}

/// SHA-256 of `data` by Web Crypto; `None` where the page has none (no secure context).
pub(crate) async fn sha256(data: &[u8]) -> Option<Vec<u8>> {
    // `digest` copies `data` before it returns, so a view of wasm memory is safe to hand it.
    let promise = subtle_digest("SHA-256", data).ok()?;
    let buffer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// `JSON.parse(text)`, as a [`Value`].
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    JSON::parse(text)
        .map(|v| from_js(&v))
        .map_err(|_| "not JSON".to_owned())
}

/// `JSON.stringify(value)`.
pub(crate) fn stringify(value: &Value) -> String {
    JSON::stringify(&to_js(value))
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// A JavaScript value (as `JSON.parse` makes them) as a [`Value`]. Whole numbers become
/// integers, as serde_json reads `900`; others stay floating point.
pub(crate) fn from_js(v: &JsValue) -> Value {
    if let Some(s) = v.as_string() {
        Value::String(s)
    } else if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Some(f) = v.as_f64() {
        // Exactly representable integers only (|f| < 2^53); beyond that, as a float.
        if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
            if f >= 0.0 {
                Value::Number((f as u64).into())
            } else {
                Value::Number((f as i64).into())
            }
        } else {
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
    } else if Array::is_array(v) {
        Value::Array(Array::from(v).iter().map(|x| from_js(&x)).collect())
    } else if v.is_object() {
        let entries = Object::entries(v.unchecked_ref());
        let mut map = Map::new();
        for entry in entries.iter() {
            let pair: Array = entry.unchecked_into();
            if let Some(key) = pair.get(0).as_string() {
                map.insert(key, from_js(&pair.get(1)));
            }
        }
        Value::Object(map)
    } else {
        Value::Null
    }
}

/// A [`Value`] as a JavaScript value.
pub(crate) fn to_js(value: &Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => JsValue::from_f64(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        // `Object.fromEntries` defines own properties, so a key like `__proto__` stays a key
        // (assigning it, as `Reflect.set` does, would replace the object's prototype instead).
        Value::Object(map) => {
            let entries: Array = map
                .iter()
                .map(|(k, v)| -> JsValue { Array::of2(&JsValue::from_str(k), &to_js(v)).into() })
                .collect();
            Object::from_entries(&entries)
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL)
        }
    }
}
