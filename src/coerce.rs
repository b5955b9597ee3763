//! Request fields read the way Livy's Jackson setup reads them: scalars are coerced as Jackson
//! coerces them (clients such as Airflow send `"numExecutors": "2"`), `null` lists and maps are
//! empty. Used by the request types of sessions, batches and jobs through
//! `#[serde(deserialize_with = ...)]`; the HTTP side (`api::json`) only turns a serde error into a
//! 400.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A JSON scalar read as text (Jackson turns numbers and booleans into strings).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// An optional string that also accepts a number or boolean.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<Scalar> =
        Option::deserialize(d).map_err(|_: D::Error| de::Error::custom("expected a string"))?;
    Ok(v.map(Scalar::into_string))
}

/// An optional integer that also accepts a numeric string ("2") and a number with no fraction
/// (`2.0`: an integer to JSON Schema, and Jackson takes it; `2.5` stays an error).
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let v: Option<Scalar> =
        Option::deserialize(d).map_err(|_: D::Error| de::Error::custom("expected an integer"))?;
    match v {
        None => Ok(None),
        Some(Scalar::Int(i)) => i32::try_from(i)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("integer {i} is out of range"))),
        Some(Scalar::Str(s)) => s
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("expected an integer, got \"{s}\""))),
        Some(Scalar::Float(f))
            if f.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&f) =>
        {
            Ok(Some(f as i32))
        }
        Some(_) => Err(de::Error::custom("expected an integer")),
    }
}

/// A list of strings; `null` is an empty list and number elements become strings.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Option<Vec<Scalar>> = Option::deserialize(d)
        .map_err(|_: D::Error| de::Error::custom("expected a list of strings"))?;
    Ok(v.unwrap_or_default()
        .into_iter()
        .map(Scalar::into_string)
        .collect())
}

/// A string-to-string map; `null` is empty and scalar values become strings.
pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let v: Option<BTreeMap<String, Scalar>> = Option::deserialize(d)
        .map_err(|_: D::Error| de::Error::custom("expected an object of string values"))?;
    Ok(v.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_string()))
        .collect())
}
