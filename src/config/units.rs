//! How the config writes sizes, durations and settings that may be off.
//!
//! - A size is an integer of bytes, or a number and a unit (`"256 MiB"`,
//!   `"64MiB"`, `"1.5 GiB"`, `"512 KB"`): units are case-insensitive; `K`,
//!   `KB`, `M`, `MB`, `G`, `GB`, `T`, `TB` are powers of 1000 (SI), `Ki`,
//!   `KiB`, `Mi`, `MiB`, `Gi`, `GiB`, `Ti`, `TiB` powers of 1024 (IEC), `B`
//!   is a byte; a fraction is cut to whole bytes. Parsed by `bytesize`.
//! - A duration is a string of a number and a unit (`"10s"`, `"500ms"`,
//!   `"2m"`, `"1h"`, `"1h 30m"`): `ms`, `s`, `m` (minutes), `h`, `d` and
//!   humantime's longer spellings (`sec`, `min`, `hour`, ...); the integer
//!   `0` alone is zero. Any other integer is refused, since its unit would
//!   be a guess. Parsed by `humantime`.
//! - A setting that can be off is an `Option`; the file writes it off as
//!   `""` (or leaves it out where off is the default).

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// What a size may look like, for error messages.
pub const SIZE_GRAMMAR: &str = "bytes (an integer) or a number and a unit: \"256 MiB\", \"64KiB\", \"1 GiB\", \"512 KB\" (KB = 1000 B, KiB = 1024 B)";

/// What a duration may look like, for error messages.
pub const DURATION_GRAMMAR: &str = "a number and a unit: \"10s\", \"500ms\", \"2m\", \"1h\" (or 0)";

/// A size as the config writes it (see the module docs), in bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let starts_with_digit = t.starts_with(|c: char| c.is_ascii_digit());
    let bytes = (starts_with_digit)
        .then(|| t.parse::<bytesize::ByteSize>().ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not a size: write {SIZE_GRAMMAR}"))?;
    // bytesize saturates; a size that large was a mistake.
    if bytes.as_u64() == u64::MAX && t != u64::MAX.to_string() {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes.as_u64())
}

/// A duration as the config writes it (see the module docs).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.bytes().all(|b| b.is_ascii_digit()) && t != "0" {
        return Err(format!("{text:?} has no unit: write {DURATION_GRAMMAR}"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{text:?} is not a duration ({e}): write {DURATION_GRAMMAR}"))
}

/// A duration as the config writes it: `"10s"`, `"1m 30s"`, `"500ms"`.
pub fn show_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A size in the largest IEC unit that divides it (`"16 MiB"`), else bytes.
pub fn show_size(bytes: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} B")
}

/// A duration in an error message, as the file writes it (`"1m 30s"`).
pub struct Quoted(pub Duration);

impl fmt::Debug for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", show_duration(self.0))
    }
}

/// Checks that `d` lies in `min..=max` (and is whole seconds when
/// `whole`); the error's allowed part says so in the file's units.
pub fn within(d: Duration, min: Duration, max: Duration, whole: bool) -> Result<(), String> {
    let range = match (min.is_zero(), max) {
        (true, Duration::MAX) => None,
        (false, Duration::MAX) => Some(format!("at least {}", show_duration(min))),
        _ => Some(format!("{} to {}", show_duration(min), show_duration(max))),
    };
    let unit = whole.then_some("whole seconds");
    let allowed: Vec<String> = range.into_iter().chain(unit.map(String::from)).collect();
    let whole_ok = !whole || d.subsec_nanos() == 0;
    if d < min || d > max || !whole_ok {
        return Err(allowed.join(", "));
    }
    Ok(())
}

/// Serde: a size (see [`parse_size`]) into any integer type it fits.
pub fn size<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Size<T>(PhantomData<T>);
    impl<T: TryFrom<u64>> Visitor<'_> for Size<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a size: {SIZE_GRAMMAR}")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            let v = u64::try_from(v).map_err(|_| {
                E::custom(format!("a size cannot be negative: write {SIZE_GRAMMAR}"))
            })?;
            self.visit_u64(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            self.visit_u64(parse_size(v).map_err(E::custom)?)
        }
    }
    d.deserialize_any(Size(PhantomData))
}

/// Serde: a duration (see [`parse_duration`]).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct Dur;
    impl Visitor<'_> for Dur {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a duration: {DURATION_GRAMMAR}")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            match v {
                0 => Ok(Duration::ZERO),
                v => Err(E::custom(format!(
                    "{v} has no unit: write {DURATION_GRAMMAR}"
                ))),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::custom("a duration cannot be negative")),
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
    }
    d.deserialize_any(Dur)
}

/// Serde: a duration, or off (`None`) when zero or `"off"`.
pub fn duration_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    struct OrOff;
    impl<'de> Visitor<'de> for OrOff {
        type Value = Option<Duration>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a duration ({DURATION_GRAMMAR}), or \"off\"")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            duration(de::value::U64Deserializer::<E>::new(v))
                .map(|d| Some(d).filter(|d| !d.is_zero()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            duration(de::value::I64Deserializer::<E>::new(v))
                .map(|d| Some(d).filter(|d| !d.is_zero()))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.trim() == "off" {
                return Ok(None);
            }
            parse_duration(v)
                .map(|d| Some(d).filter(|d| !d.is_zero()))
                .map_err(E::custom)
        }
    }
    d.deserialize_any(OrOff)
}

/// Serde: a string (or path) that is off when empty: `""` is `None`.
pub fn non_empty<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let s = <String as serde::Deserialize>::deserialize(d)?;
    Ok((!s.is_empty()).then(|| T::from(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, bytes) in [
            ("0", 0),
            ("1024", 1024),
            ("256 MiB", 256 << 20),
            ("64MiB", 64 << 20),
            ("1 GiB", 1 << 30),
            ("1gib", 1 << 30),
            ("512 KB", 512_000),
            ("512 KiB", 512 << 10),
            ("16 kib", 16 << 10),
            ("1.5 KiB", 1536),
            ("10 B", 10),
            ("3M", 3_000_000),
            (" 2 GB ", 2_000_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "-1",
            "256 XB",
            "1 000",
            "ten",
            "1e9",
            "99999999999 EiB",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(parse_size("x").unwrap_err().contains("KiB = 1024 B"));
    }

    #[test]
    fn durations() {
        for (text, d) in [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1h 30m", Duration::from_secs(5400)),
            ("1d", Duration::from_secs(86_400)),
            ("3sec", Duration::from_secs(3)),
        ] {
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
        for bad in ["", "10", "ten seconds", "10 parsecs", "-1s", "s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("\"10s\""), "{bad}: {e}");
        }
        assert_eq!(show_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(show_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(show_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn shown_sizes() {
        assert_eq!(show_size(16 << 20), "16 MiB");
        assert_eq!(show_size(1 << 30), "1 GiB");
        assert_eq!(show_size(1536), "1536 B");
        assert_eq!(show_size(1000), "1000 B");
    }

    #[derive(serde::Deserialize, Debug)]
    struct T {
        #[serde(deserialize_with = "size", default)]
        s: u32,
        #[serde(deserialize_with = "duration", default)]
        d: Duration,
        #[serde(deserialize_with = "duration_or_off", default)]
        o: Option<Duration>,
        #[serde(deserialize_with = "non_empty", default)]
        p: Option<std::path::PathBuf>,
    }

    fn de(text: &str) -> Result<T, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    #[test]
    fn through_serde() {
        let t = de("s = \"1 MiB\"\nd = \"1m\"\no = \"1s\"\np = \"x\"").unwrap();
        assert_eq!(
            (t.s, t.d, t.o),
            (
                1 << 20,
                Duration::from_secs(60),
                Some(Duration::from_secs(1))
            )
        );
        assert_eq!(t.p.as_deref(), Some(std::path::Path::new("x")));
        let t = de("s = 65535\nd = 0\no = 0\np = \"\"").unwrap();
        assert_eq!((t.s, t.d, t.o, t.p), (65535, Duration::ZERO, None, None));
        assert_eq!(de("o = \"off\"").unwrap().o, None);
        assert!(de("s = \"8 GiB\"").unwrap_err().contains("too large"));
        assert!(de("s = -1").unwrap_err().contains("negative"));
        assert!(de("s = true").unwrap_err().contains("a size"));
        assert!(de("d = 10").unwrap_err().contains("no unit"));
        assert!(de("d = \"10\"").unwrap_err().contains("no unit"));
        assert!(de("o = 5").unwrap_err().contains("no unit"));
    }
}
