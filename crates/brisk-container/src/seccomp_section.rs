//! Finding `linux.seccomp` in the bytes of config.json without parsing it.
//!
//! The seccomp section is most of podman's config (15 of its 20 KB: 437
//! syscall names). When the compiled-filter cache holds a program for the
//! exact bytes of that section, brisk needs neither its parse nor its
//! canonical form: `config::load` parses the config with the section
//! replaced by `null`, and `seccomp::plan_section` looks the bytes up (see
//! docs/ARCHITECTURE.md, "seccomp").
//!
//! The scan reads the members of the top object and of `linux` exactly
//! (keys, colons, commas) and skips every value by counting brackets
//! outside strings (see `Scanner::value`: exact for valid JSON, harmless
//! for invalid). It gives up (None) on anything unexpected at those two
//! levels, on a `linux` or `seccomp` key seen twice, and on nesting deeper
//! than serde_json's own limit: every such config takes the ordinary path,
//! which reports what is wrong with it. About 10 instructions a byte.
//! Keys are compared as written: a key spelt with escapes is not found,
//! and serde then sees both it and the `null` (a duplicate field, an
//! error), so the fast path can never hide a section from the parser.

use std::ops::Range;

/// serde_json's recursion limit.
const MAX_DEPTH: usize = 128;

/// The byte range of the value of `linux.seccomp`, when `data` is a JSON
/// object whose `linux` member (one) is an object with one `seccomp`
/// member.
pub fn find(data: &[u8]) -> Option<Range<usize>> {
    let mut s = Scanner { d: data, i: 0 };
    s.ws();
    s.expect(b'{')?;
    let mut linux: Option<Option<Range<usize>>> = None;
    s.members(|s, key| {
        if key == b"linux" {
            if linux.is_some() {
                return None;
            }
            linux = Some(if s.peek()? == b'{' {
                s.linux()?
            } else {
                s.value()?;
                None
            });
            Some(())
        } else {
            s.value()
        }
    })?;
    s.ws();
    if s.i != data.len() {
        return None;
    }
    linux.flatten()
}

/// `data` with the value at `r` replaced by `null`.
pub fn blank(data: &[u8], r: &Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() - r.len() + 4);
    out.extend_from_slice(&data[..r.start]);
    out.extend_from_slice(b"null");
    out.extend_from_slice(&data[r.end..]);
    out
}

struct Scanner<'a> {
    d: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.d.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string starting at the cursor; returns where its raw contents
    /// are.
    fn string(&mut self) -> Option<Range<usize>> {
        self.expect(b'"')?;
        // A byte loop, not memchr: keys are short, and memchr's first call
        // runs std's CPU feature detection (ten CPUID instructions, each a
        // trap to the hypervisor in a VM: ~40 us on every start here).
        let start = self.i;
        loop {
            match *self.d.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(start..self.i - 1);
                }
                // An escape: the byte after the backslash is never the end
                // (for \u the four hex digits are ordinary bytes).
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    /// The members of the object whose `{` was just read, up to and with
    /// its `}`: `each` gets the key with the cursor on the value, and
    /// must read the value.
    fn members(&mut self, mut each: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            let r = self.string()?;
            // The key borrows the data, not the scanner.
            let data = self.d;
            let key = &data[r];
            self.ws();
            self.expect(b':')?;
            self.ws();
            each(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The `linux` object (cursor on its `{`): the range of its one
    /// `seccomp` value, if any.
    fn linux(&mut self) -> Option<Option<Range<usize>>> {
        self.expect(b'{')?;
        let mut seccomp: Option<Range<usize>> = None;
        self.members(|s, key| {
            if key == b"seccomp" {
                if seccomp.is_some() {
                    return None;
                }
                let start = s.i;
                s.value()?;
                seccomp = Some(start..s.i);
                Some(())
            } else {
                s.value()
            }
        })?;
        Some(seccomp)
    }

    /// Skips one value (cursor on its first byte) without checking it:
    /// strings (with their escapes) are skipped whole and brackets counted,
    /// whatever their kind. That is exact for valid JSON. For invalid JSON
    /// the range may be wrong, which is harmless: outside the section the
    /// parser reads the blanked config and fails; inside it, the bytes
    /// never parsed, so the cache has no entry for them and they are
    /// parsed, and refused, with the whole config.
    fn value(&mut self) -> Option<()> {
        let d = self.d;
        let start = self.i;
        let mut i = start;
        let mut depth = 0usize;
        loop {
            match *d.get(i)? {
                b'"' => {
                    self.i = i;
                    self.string()?;
                    i = self.i;
                    if depth == 0 {
                        break;
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return None;
                    }
                    i += 1;
                }
                // At depth 0: the end of a scalar (or, first, no value).
                b'}' | b']' if depth == 0 => break,
                b'}' | b']' => {
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
                // The end of a number, true, false or null.
                b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => break,
                b':' if depth == 0 => return None,
                _ => i += 1,
            }
        }
        if i == start {
            return None;
        }
        self.i = i;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(json: &str) -> Option<&str> {
        find(json.as_bytes()).map(|r| &json[r])
    }

    #[test]
    fn finds_the_section_wherever_it_is() {
        assert_eq!(
            section(r#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}}"#),
            Some(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)
        );
        let j = r#" { "ociVersion" : "1.0.2", "process": {"args": ["a,]}", "\"}"], "x": [1, -2.5e3, true, null, {}]},
            "linux" : { "namespaces": [{"type": "pid"}], "seccomp" :{"a":[1,{"b":"}"}]} , "z": false } , "hostname": "h\\" } "#;
        assert_eq!(section(j), Some(r#"{"a":[1,{"b":"}"}]}"#));
        assert_eq!(section(r#"{"linux": {"seccomp": null}}"#), Some("null"));
    }

    #[test]
    fn no_section_or_doubt_means_none() {
        for j in [
            r#"{}"#,
            r#"{"linux": {}}"#,
            r#"{"linux": null}"#,
            r#"{"process": {"seccomp": {}}}"#,
            r#"{"seccomp": {}}"#,
            // Twice: let the parser say what it thinks.
            r#"{"linux": {"seccomp": {}, "seccomp": {}}}"#,
            r#"{"linux": {"seccomp": {}}, "linux": {}}"#,
            // An escaped key is not recognised (serde will see both).
            r#"{"linux": {"secc\u006fmp": {}}}"#,
            // Broken JSON.
            r#"{"linux": {"seccomp": {}}"#,
            r#"{"linux": {"seccomp": {}}} x"#,
            r#"{"linux": {"seccomp": "abc}}}"#,
            r#"{"linux": {"seccomp": }}"#,
            r#"{"linux": {"seccomp": {}}, "process": {"a": [}"#,
            r#"["linux"]"#,
            "",
        ] {
            assert_eq!(section(j), None, "{j}");
        }
        let deep = format!(
            r#"{{"linux": {{"seccomp": {}1{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(section(&deep), None);
    }

    /// Inside a value the scan only counts brackets: what it finds in
    /// invalid JSON is never parsed on its own (see `Scanner::value`).
    #[test]
    fn invalid_values_are_left_to_the_parser() {
        assert_eq!(
            section(r#"{"linux": {"seccomp": {"a" 1}}}"#),
            Some(r#"{"a" 1}"#)
        );
        assert_eq!(section(r#"{"linux": {"seccomp": [1 2]}}"#), Some("[1 2]"));
        assert_eq!(
            section(r#"{"linux": {"seccomp": {"a": [}]}}"#),
            Some(r#"{"a": [}]"#)
        );
    }

    #[test]
    fn blank_replaces_the_value_with_null() {
        let j = br#"{"linux": {"seccomp": {"x": 1}, "a": 2}}"#;
        let r = find(j).unwrap();
        assert_eq!(
            blank(j, &r),
            br#"{"linux": {"seccomp": null, "a": 2}}"#.to_vec()
        );
    }
}
