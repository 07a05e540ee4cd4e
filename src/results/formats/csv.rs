//! CSV, one table per result (spreadsheets read one table a file): a `time` column (and
//! `duration` for segments) in seconds from the start of the media, then the value columns
//! (`value`, or `value_0`..`value_{n-1}`) or a `label` column with the label's name. Global
//! results are one row without time.

use super::{FormatError, invalid};
use crate::results::{AnalyzerResult, DataMode, TimeMode};
use std::io::Write;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Writes the only result of `results` (CSV holds one; see [`super::Format::Csv`]).
pub fn write(results: &[AnalyzerResult], out: &mut dyn Write) -> Result<(), FormatError> {
    match results {
        [r] => write_one(r, out),
        _ => {
            let ids: Vec<&str> = results.iter().map(|r| r.id_metadata.id.as_str()).collect();
            Err(invalid(
                super::Format::Csv,
                format!("a CSV table holds one result; these are {}: name one ({})", ids.len(), ids.join(", ")),
            ))
        }
    }
}

pub fn write_one(r: &AnalyzerResult, out: &mut dyn Write) -> Result<(), FormatError> {
    let d = &r.data_object;
    let width = d.value.as_ref().map_or(1, |v| v.width());
    let mut header: Vec<String> = Vec::new();
    if r.time_mode != TimeMode::Global {
        header.push("time".into());
    }
    if r.time_mode == TimeMode::Segment {
        header.push("duration".into());
    }
    match r.data_mode {
        DataMode::Label => header.push("label".into()),
        DataMode::Value if width == 1 => header.push("value".into()),
        DataMode::Value => header.extend((0..width).map(|i| format!("value_{i}"))),
    }
    writeln!(out, "{}", header.join(","))?;
    for i in 0..r.points() {
        let mut line: Vec<String> = Vec::new();
        let (time, duration) = r.span(i);
        if r.time_mode != TimeMode::Global {
            line.push(format!("{time}"));
        }
        if r.time_mode == TimeMode::Segment {
            line.push(format!("{duration}"));
        }
        match (&d.label, &d.value) {
            (Some(labels), _) => line.push(field(&r.label_name(labels[i]))),
            (None, Some(values)) => line.extend(values.row(i).iter().map(|v| format!("{v}"))),
            (None, None) => {}
        }
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::formats::tests::every_shape;

    fn csv_of(id: &str) -> String {
        let r = every_shape().into_iter().find(|r| r.id_metadata.id == id).expect("result");
        let mut out = Vec::new();
        write(&[r], &mut out).expect("csv");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn one_table_per_shape() {
        assert_eq!(csv_of("level"), "value\n-3.0103\n0.000000000000000000000000000001\n");
        assert_eq!(csv_of("spectrum"), "time,value_0,value_1\n0,1,-2\n0.032,3.5,4\n");
        assert_eq!(csv_of("loud"), "time,duration,value\n0,1.5,-23\n2,0.5,-9.5\n");
        assert_eq!(csv_of("clicks"), "time,label\n0.1,\"sound, \"\"loud\"\" é\"\n2.5,silence\n");
        let e = write(&every_shape(), &mut Vec::new()).expect_err("several");
        assert!(e.to_string().contains("name one (level, pitch"), "{e}");
    }
}
