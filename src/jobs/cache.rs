//! Result cache keys. A result is determined by the content it was computed from (SHA-256 of
//! the media bytes, not the item: the same file uploaded twice shares results), the processor
//! and its version, its canonical parameters, the decode options and the effects applied
//! before it. Equal keys, equal data: a key found done is reused without decoding.

use crate::media::hash::sha256_hex;
use crate::storage::processing::{Experience, canonical_json};

/// The cache key of each preset of `experience` on content `sha256`, in order; `None` for
/// effects (they make no result of their own, but are part of the keys after them).
pub fn keys(experience: &Experience, sha256: &str) -> Vec<Option<String>> {
    let mut effects_before: Vec<serde_json::Value> = Vec::new();
    experience
        .presets
        .iter()
        .map(|preset| {
            let entry = crate::processors::lookup(&preset.processor)?;
            let described = serde_json::json!({ "processor": preset.processor, "parameters": preset.parameters,
                "version": entry.descriptor.version });
            if matches!(entry.factory, crate::processors::registry::Factory::Effect(_)) {
                effects_before.push(described);
                return None;
            }
            let identity = serde_json::json!({
                "content_sha256": sha256,
                "step": described,
                "decoder": experience.decoder,
                "effects_before": effects_before,
            });
            Some(sha256_hex(canonical_json(&identity).as_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::processing::Preset;
    use serde_json::json;

    fn preset(processor: &str, parameters: serde_json::Value) -> Preset {
        Preset {
            uuid: uuid::Uuid::new_v4(),
            processor: processor.into(),
            parameters,
            author: None,
            is_public: true,
            read_only: false,
            date_added: String::new(),
            date_modified: String::new(),
        }
    }

    fn experience(presets: Vec<Preset>) -> Experience {
        Experience {
            uuid: uuid::Uuid::new_v4(),
            title: "t".into(),
            description: String::new(),
            author: None,
            is_public: true,
            read_only: false,
            decoder: json!({}),
            presets,
            date_added: String::new(),
            date_modified: String::new(),
        }
    }

    #[test]
    fn keys_change_with_content_parameters_and_preceding_effects_only() {
        let level = preset("level", json!({}));
        let spectro = preset("spectrogram", json!({ "n_fft": 1024 }));
        let base = keys(&experience(vec![level.clone(), spectro.clone()]), "aa");
        assert_eq!(base.len(), 2);
        // Another experience, other preset ids, same processors and parameters: same keys.
        let again =
            keys(&experience(vec![preset("level", json!({})), preset("spectrogram", json!({ "n_fft": 1024 }))]), "aa");
        assert_eq!(base, again);
        // Other content: other keys.
        assert_ne!(keys(&experience(vec![level.clone()]), "bb")[0], base[0]);
        // A changed parameter changes that preset's key only.
        let changed = keys(&experience(vec![level.clone(), preset("spectrogram", json!({ "n_fft": 2048 }))]), "aa");
        assert_eq!(changed[0], base[0]);
        assert_ne!(changed[1], base[1]);
        // An effect changes the keys after it, and has none itself.
        let gained = keys(&experience(vec![level, preset("fx_gain", json!({ "gain_db": -6.0 })), spectro]), "aa");
        assert_eq!(gained[0], base[0]);
        assert_eq!(gained[1], None);
        assert_ne!(gained[2], base[1]);
    }
}
