//! The properties of a container's scope: the unit's own (runc's set:
//! `Delegate`, the accounting switches, `DefaultDependencies=no`), the
//! limits of `linux.resources` that systemd can hold, and the
//! `org.systemd.property.*` annotations. systemd applies them when the
//! unit starts and again on every `daemon-reload`, so what it holds must
//! never be looser than what brisk writes to the cgroup files afterwards
//! (the files get every limit, as with the cgroupfs driver).

use oci_spec::runtime::LinuxResources;

use crate::convert;
use crate::devices::{self, Rule};
use crate::error::{Error, Result};
use crate::layout::Layout;

/// A D-Bus value of a unit property (a subset of the D-Bus types: what
/// the resource properties and the annotations need).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    /// `ay` (`AllowedCPUs`: a CPU bitmask, lowest CPU in the first byte's
    /// lowest bit).
    Bytes(Vec<u8>),
    /// `au` (`PIDs`).
    U32s(Vec<u32>),
    /// `as`.
    Strs(Vec<String>),
    /// `a(ss)` (`DeviceAllow`).
    Pairs(Vec<(String, String)>),
}

pub type Property = (String, Value);

fn prop(name: &str, v: Value) -> Property {
    (name.to_string(), v)
}

/// The properties that do not depend on the config.
pub fn unit_defaults(layout: Layout, description: &str) -> Vec<Property> {
    vec![
        prop("Description", Value::Str(description.into())),
        prop("Delegate", Value::Bool(true)),
        prop("DefaultDependencies", Value::Bool(false)),
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop(
            if layout == Layout::V2 {
                "IOAccounting"
            } else {
                "BlockIOAccounting"
            },
            Value::Bool(true),
        ),
        prop("TasksAccounting", Value::Bool(true)),
    ]
}

/// `linux.resources` as unit properties, runc's choice of names per
/// layout (systemd drives cgroup2 with `MemoryMax`/`CPUWeight`/`IOWeight`
/// and v1 with `MemoryLimit`/`CPUShares`/`BlockIOWeight`). `devices`:
/// whether to include the device policy (not on `update`, whose
/// resources carry no device rules).
pub fn from_resources(r: &LinuxResources, layout: Layout, devices: bool) -> Result<Vec<Property>> {
    let v2 = layout == Layout::V2;
    let mut out = Vec::new();
    if devices {
        out.extend(device_properties(r)?);
    }
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit().filter(|l| *l != 0) {
            let v = if limit < 0 { u64::MAX } else { limit as u64 };
            out.push(prop(
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                Value::U64(v),
            ));
        }
        if v2 {
            if let Some(low) = m.reservation().filter(|l| *l != 0) {
                let v = if low < 0 { u64::MAX } else { low as u64 };
                out.push(prop("MemoryLow", Value::U64(v)));
            }
            if let Some(swap) = m.swap().filter(|s| *s != 0) {
                let max = convert::memsw_to_swap_max(swap, m.limit())
                    .map_err(|e| Error::invalid("linux.resources.memory.swap", e))?;
                let v = if max == "max" {
                    u64::MAX
                } else {
                    max.parse().unwrap_or(u64::MAX)
                };
                out.push(prop("MemorySwapMax", Value::U64(v)));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            if v2 {
                out.push(prop(
                    "CPUWeight",
                    Value::U64(convert::cpu_shares_to_weight(shares)),
                ));
            } else {
                out.push(prop("CPUShares", Value::U64(shares)));
            }
        }
        out.extend(cpu_quota(c.quota(), c.period()));
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(prop(
                "AllowedCPUs",
                Value::Bytes(bitmask(cpus, "linux.resources.cpu.cpus")?),
            ));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(prop(
                "AllowedMemoryNodes",
                Value::Bytes(bitmask(mems, "linux.resources.cpu.mems")?),
            ));
        }
    }
    if let Some(p) = r.pids() {
        let l = p.limit();
        if l > 0 || l == -1 {
            let v = if l < 0 { u64::MAX } else { l as u64 };
            out.push(prop("TasksMax", Value::U64(v)));
        }
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w != 0)
    {
        if v2 {
            out.push(prop(
                "IOWeight",
                Value::U64(convert::blkio_weight_to_io_weight(u64::from(w))),
            ));
        } else {
            out.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
        }
    }
    Ok(out)
}

/// `CPUQuotaPerSecUSec` (+ `CPUQuotaPeriodUSec`), runc's arithmetic:
/// quota per second, rounded up to systemd's 10 ms granularity; a quota
/// of -1 is no quota; a period alone is kept.
fn cpu_quota(quota: Option<i64>, period: Option<u64>) -> Vec<Property> {
    let mut out = Vec::new();
    let period_set = period.filter(|p| *p != 0);
    if let Some(p) = period_set {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
    }
    match quota {
        Some(q) if q > 0 => {
            let p = period_set.unwrap_or(100_000);
            let mut per_sec = (q as u64).saturating_mul(1_000_000) / p;
            if !per_sec.is_multiple_of(10_000) {
                per_sec = (per_sec / 10_000 + 1) * 10_000;
            }
            out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        Some(-1) => out.push(prop("CPUQuotaPerSecUSec", Value::U64(u64::MAX))),
        _ => {}
    }
    out
}

/// A cpuset list (`0-3,8`) as systemd's bitmask bytes.
fn bitmask(list: &str, field: &str) -> Result<Vec<u8>> {
    crate::cpulist::parse_list(list, "CPU or node")
        .map(|m| crate::cpulist::mask_bytes(&m))
        .map_err(|e| Error::invalid(field, format!("{list:?}: {e}")))
}

/// `DevicePolicy` and `DeviceAllow` from the config's rules and the
/// devices every container gets, as the kernel would end up with them
/// (rules in order on a cgroup that starts by allowing everything).
/// systemd holds only allow lists: a list that ends by allowing all is
/// `auto` with no entries; one that denies only some devices cannot be
/// said, and systemd gets a deny-all (`strict`, nothing allowed) as runc
/// gives it, never something looser than the files.
fn device_properties(r: &LinuxResources) -> Result<Vec<Property>> {
    let mut rules = Vec::new();
    for (i, d) in r.devices().iter().flatten().enumerate() {
        rules.push(
            Rule::from_spec(d)
                .map_err(|e| Error::invalid(format!("linux.resources.devices[{i}]"), e))?,
        );
    }
    rules.extend(devices::default_allowed());
    let Some(allowed) = effective_allow_list(&rules) else {
        return Ok(vec![prop("DevicePolicy", Value::Str("auto".into()))]);
    };
    let names = proc_devices();
    let mut entries = Vec::new();
    for r in allowed {
        if let Some(spec) = systemd_device(&r, &names) {
            entries.push((spec, r.access.clone()));
        }
    }
    Ok(vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Pairs(entries)),
    ])
}

/// The allow list the rules leave (`None`: everything is allowed).
/// Deny rules that only partly cover an allowed entry remove it whole.
fn effective_allow_list(rules: &[Rule]) -> Option<Vec<Rule>> {
    // Starts as the kernel's new cgroup: all allowed, i.e. a deny list.
    let mut allow_all = true;
    let mut denied_some = false;
    let mut list: Vec<Rule> = Vec::new();
    let covers = |outer: &Rule, inner: &Rule| {
        (outer.typ == 'a' || outer.typ == inner.typ)
            && (outer.major.is_none() || outer.major == inner.major)
            && (outer.minor.is_none() || outer.minor == inner.minor)
    };
    for r in rules {
        if r.typ == 'a' && r.access.len() == 3 {
            allow_all = r.allow;
            denied_some = false;
            list.clear();
            continue;
        }
        match (allow_all, r.allow) {
            (true, true) => {}
            (true, false) => denied_some = true,
            (false, true) => list.push(r.clone()),
            (false, false) => {
                list.retain(|a| !(covers(r, a) || covers(a, r)));
            }
        }
    }
    match (allow_all, denied_some) {
        (true, false) => None,
        (true, true) => Some(Vec::new()),
        (false, _) => Some(list),
    }
}

/// A rule in systemd's `DeviceAllow` syntax: `/dev/char/1:3`,
/// `char-pts` (all minors of a major, by the driver's name in
/// /proc/devices), `char-*`. `None` for what it cannot name (left out:
/// systemd's view is then stricter than the files).
fn systemd_device(r: &Rule, names: &[(char, i64, String)]) -> Option<String> {
    let kind = match r.typ {
        'c' => "char",
        'b' => "block",
        _ => return None,
    };
    match (r.major, r.minor) {
        (None, None) => Some(format!("{kind}-*")),
        (Some(ma), Some(mi)) => Some(format!("/dev/{kind}/{ma}:{mi}")),
        (Some(ma), None) => names
            .iter()
            .find(|(t, m, _)| *t == r.typ && *m == ma)
            .map(|(_, _, n)| format!("{kind}-{n}")),
        (None, Some(_)) => None,
    }
}

/// /proc/devices: (type, major, driver name).
fn proc_devices() -> Vec<(char, i64, String)> {
    let text = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let mut typ = 'c';
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("Character") {
            typ = 'c';
        } else if line.starts_with("Block") {
            typ = 'b';
        } else if let Some((n, name)) = line.trim().split_once(' ') {
            if let Ok(n) = n.parse() {
                out.push((typ, n, name.trim().to_string()));
            }
        }
    }
    out
}

/// `org.systemd.property.NAME: VALUE` annotations, as runc reads them:
/// NAME is ASCII letters, VALUE a GVariant text value (`uint64 123`,
/// `true`, `'text'`, `@t 5`); a NAME ending in a lowercase letter +
/// `Sec` takes seconds and becomes `NAMEUSec` in microseconds.
pub fn from_annotations<'a>(
    annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<Property>> {
    const PREFIX: &str = "org.systemd.property.";
    let mut out = Vec::new();
    for (key, text) in annotations {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        let field = || format!("annotations.{key:?}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(Error::invalid(
                field(),
                "a systemd property name is made of ASCII letters",
            ));
        }
        let mut value = parse_gvariant(text).map_err(|e| {
            Error::invalid(
                field(),
                format!("{text:?} is not a GVariant text value: {e}"),
            )
        })?;
        let mut name = name.to_string();
        if let Some(stem) = name.strip_suffix("Sec") {
            if stem.ends_with(|c: char| c.is_ascii_lowercase()) {
                value = seconds_to_usec(value)
                    .ok_or_else(|| Error::invalid(field(), "a ...Sec property takes a number"))?;
                name = format!("{stem}USec");
            }
        }
        out.push((name, value));
    }
    Ok(out)
}

fn seconds_to_usec(v: Value) -> Option<Value> {
    const M: u64 = 1_000_000;
    Some(match v {
        Value::Byte(n) => Value::U64(u64::from(n) * M),
        Value::U16(n) => Value::U64(u64::from(n) * M),
        Value::U32(n) => Value::U64(u64::from(n) * M),
        Value::U64(n) => Value::U64(n.checked_mul(M)?),
        Value::I16(n) if n >= 0 => Value::U64(n as u64 * M),
        Value::I32(n) if n >= 0 => Value::U64(n as u64 * M),
        Value::I64(n) if n >= 0 => Value::U64((n as u64).checked_mul(M)?),
        Value::Double(f) if f >= 0.0 => Value::U64((f * M as f64) as u64),
        _ => return None,
    })
}

/// The GVariant text values unit properties take: numbers with an
/// optional type (`uint64 5`, `@t 5`; a bare integer is an `int32`, a
/// bare decimal a `double`), `true`/`false`, quoted strings, and arrays of
/// those (`['a', 'b']`, `@as []`).
pub fn parse_gvariant(text: &str) -> std::result::Result<Value, String> {
    let text = text.trim();
    let (ty, rest) = if let Some(r) = text.strip_prefix('@') {
        let (t, rest) = r
            .split_once(char::is_whitespace)
            .ok_or("a type without a value")?;
        (Some(t), rest.trim())
    } else {
        match text.split_once(char::is_whitespace) {
            Some((w, rest)) if KEYWORDS.iter().any(|(k, _)| *k == w) => (
                KEYWORDS.iter().find(|(k, _)| *k == w).map(|(_, t)| *t),
                rest.trim(),
            ),
            _ => (None, text),
        }
    };
    if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Vec<&str> = split_items(inner)?;
        let elem = ty.map(|t| t.strip_prefix('a').ok_or("an array with a non-array type"));
        let elem = elem.transpose()?;
        let parsed = items
            .iter()
            .map(|i| scalar(i, elem))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return array(parsed, elem);
    }
    scalar(rest, ty)
}

const KEYWORDS: [(&str, &str); 9] = [
    ("boolean", "b"),
    ("byte", "y"),
    ("int16", "n"),
    ("uint16", "q"),
    ("int32", "i"),
    ("uint32", "u"),
    ("int64", "x"),
    ("uint64", "t"),
    ("double", "d"),
];

fn split_items(inner: &str) -> std::result::Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') => {
                items.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("an unterminated string".into());
    }
    let last = inner[start..].trim();
    if !last.is_empty() {
        items.push(last);
    } else if !items.is_empty() {
        return Err("an empty array item".into());
    }
    Ok(items)
}

fn array(items: Vec<Value>, elem: Option<&str>) -> std::result::Result<Value, String> {
    match elem {
        Some("s") => {}
        Some("u") => {}
        Some("y") => {}
        None if items.is_empty() => return Err("an empty array needs a type (@as [])".into()),
        None => {}
        Some(t) => return Err(format!("arrays of {t:?} are not supported")),
    }
    let mut strs = Vec::new();
    let mut u32s = Vec::new();
    let mut bytes = Vec::new();
    for i in &items {
        match i {
            Value::Str(s) => strs.push(s.clone()),
            Value::U32(n) => u32s.push(*n),
            Value::Byte(b) => bytes.push(*b),
            _ => return Err("arrays of strings, uint32 or bytes only".into()),
        }
    }
    Ok(match (elem, strs.len(), u32s.len()) {
        (Some("s"), ..) => Value::Strs(strs),
        (Some("u"), ..) => Value::U32s(u32s),
        (Some("y"), ..) => Value::Bytes(bytes),
        (None, n, 0) if n == items.len() => Value::Strs(strs),
        (None, 0, n) if n == items.len() => Value::U32s(u32s),
        _ => Value::Bytes(bytes),
    })
}

fn scalar(text: &str, ty: Option<&str>) -> std::result::Result<Value, String> {
    let text = text.trim();
    let quoted = |q: char| {
        text.strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .filter(|_| text.len() >= 2)
    };
    if let Some(s) = quoted('\'').or_else(|| quoted('"')) {
        return match ty {
            None | Some("s") => Ok(Value::Str(s.to_string())),
            Some(t) => Err(format!("a string where type {t:?} was given")),
        };
    }
    let num = |e: std::num::ParseIntError| e.to_string();
    Ok(match ty {
        Some("b") | None if text == "true" || text == "false" => Value::Bool(text == "true"),
        Some("y") => Value::Byte(text.parse().map_err(num)?),
        Some("n") => Value::I16(text.parse().map_err(num)?),
        Some("q") => Value::U16(text.parse().map_err(num)?),
        Some("i") => Value::I32(text.parse().map_err(num)?),
        Some("u") => Value::U32(text.parse().map_err(num)?),
        Some("x") => Value::I64(text.parse().map_err(num)?),
        Some("t") => Value::U64(text.parse().map_err(num)?),
        Some("d") => Value::Double(text.parse().map_err(|e| format!("{e}"))?),
        None if text.parse::<i32>().is_ok() => Value::I32(text.parse().map_err(num)?),
        None if text.parse::<f64>().is_ok() && text.contains('.') => {
            Value::Double(text.parse().map_err(|e| format!("{e}"))?)
        }
        Some(t) => return Err(format!("{text:?} is not a value of type {t:?}")),
        None => return Err(format!("{text:?}: quote strings ('text')")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn get<'a>(props: &'a [Property], name: &str) -> Option<&'a Value> {
        props.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn limits_per_layout() {
        let r = res(r#"{"memory": {"limit": 67108864, "swap": 134217728},
                       "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1,4"},
                       "pids": {"limit": 50}, "blockIO": {"weight": 500}}"#);
        let v1 = from_resources(&r, Layout::Hybrid, false).unwrap();
        assert_eq!(get(&v1, "MemoryLimit"), Some(&Value::U64(67108864)));
        assert_eq!(get(&v1, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&v1, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&v1, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&v1, "TasksMax"), Some(&Value::U64(50)));
        assert_eq!(get(&v1, "BlockIOWeight"), Some(&Value::U64(500)));
        assert_eq!(get(&v1, "AllowedCPUs"), Some(&Value::Bytes(vec![0b1_0011])));
        assert_eq!(get(&v1, "MemorySwapMax"), None);
        let v2 = from_resources(&r, Layout::V2, false).unwrap();
        assert_eq!(get(&v2, "MemoryMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&v2, "MemorySwapMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&v2, "CPUWeight"), Some(&Value::U64(20)));
        assert_eq!(get(&v2, "IOWeight"), Some(&Value::U64(4950)));
        // 33 ms of 100 ms: 330 ms/s, rounded up to 10 ms steps.
        let q = cpu_quota(Some(33_333), Some(100_000));
        assert_eq!(q[1], prop("CPUQuotaPerSecUSec", Value::U64(340_000)));
        assert_eq!(cpu_quota(Some(-1), None)[0].1, Value::U64(u64::MAX));
    }

    #[test]
    fn device_lists() {
        let deny_all = res(r#"{"devices": [{"allow": false, "access": "rwm"},
                                           {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}"#);
        let p = device_properties(&deny_all).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
        let Some(Value::Pairs(allow)) = get(&p, "DeviceAllow") else {
            panic!("{p:?}")
        };
        assert!(allow.contains(&("/dev/char/10:229".into(), "rw".into())));
        assert!(allow.contains(&("/dev/char/1:3".into(), "rwm".into())));
        assert!(allow.contains(&("char-*".into(), "m".into())));
        // Allow-all: systemd's "auto", nothing listed.
        let all = res(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#);
        assert_eq!(
            device_properties(&all).unwrap(),
            vec![prop("DevicePolicy", Value::Str("auto".into()))]
        );
        // A deny list systemd cannot hold: deny-all, as runc.
        let some = res(r#"{"devices": [{"allow": false, "type": "c", "major": 1, "minor": 3}]}"#);
        assert_eq!(
            get(&device_properties(&some).unwrap(), "DeviceAllow"),
            Some(&Value::Pairs(Vec::new()))
        );
        // A deny after an allow takes the entry out.
        let r = vec![
            Rule::from_spec(&serde_json::from_str(r#"{"allow": false}"#).unwrap()).unwrap(),
            devices::default_allowed()[2].clone(),
            Rule::from_spec(
                &serde_json::from_str(r#"{"allow": false, "type": "c", "major": 1}"#).unwrap(),
            )
            .unwrap(),
        ];
        assert_eq!(effective_allow_list(&r), Some(Vec::new()));
    }

    #[test]
    fn annotations_as_runc() {
        let p = from_annotations([
            ("org.systemd.property.TimeoutStopSec", "uint64 123"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.CPUQuotaPeriodUSec", "@t 5000"),
            ("org.systemd.property.IgnoreOnIsolate", "true"),
            ("other", "x"),
        ])
        .unwrap();
        assert_eq!(
            p,
            vec![
                prop("TimeoutStopUSec", Value::U64(123_000_000)),
                prop("CollectMode", Value::Str("inactive-or-failed".into())),
                prop("CPUQuotaPeriodUSec", Value::U64(5000)),
                prop("IgnoreOnIsolate", Value::Bool(true)),
            ]
        );
        for bad in [
            ("org.systemd.property.Bad-Name", "1"),
            ("org.systemd.property.X", "unquoted"),
            ("org.systemd.property.X", "uint64 -1"),
            ("org.systemd.property.X", "'open"),
        ] {
            let e = from_annotations([bad]).unwrap_err();
            assert!(e.to_string().contains("annotations"), "{bad:?}: {e}");
        }
        assert_eq!(
            parse_gvariant("['a', 'b,c']").unwrap(),
            Value::Strs(vec!["a".into(), "b,c".into()])
        );
        assert_eq!(parse_gvariant("@as []").unwrap(), Value::Strs(vec![]));
        assert_eq!(parse_gvariant("5").unwrap(), Value::I32(5));
        assert_eq!(parse_gvariant("2.5").unwrap(), Value::Double(2.5));
    }
}
