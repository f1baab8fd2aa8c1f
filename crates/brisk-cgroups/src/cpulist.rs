//! Lists of CPUs or memory nodes (`0-3,7`: the format of
//! `execCPUAffinity`, `linux.resources.cpu.cpus`/`mems`,
//! `memoryPolicy.nodes`) as bit masks.

/// How many numbers a mask holds.
pub const MAX_CPUS: usize = 1024;

/// A list of numbers and ranges below 1024 (`0-3,7`: the format of
/// `execCPUAffinity`, `cpu.cpus`, `memoryPolicy.nodes`) as a bit mask in
/// the kernel's layout; `what` names the numbers in errors.
pub fn parse_list(list: &str, what: &str) -> Result<[u64; 16], String> {
    let mut mask = [0u64; 16];
    let list = list.trim();
    if list.is_empty() {
        return Err("empty".into());
    }
    let number = |s: &str| -> Result<usize, String> {
        let s = s.trim();
        let n: usize = s
            .parse()
            .map_err(|_| format!("{s:?} is not a {what} number"))?;
        if n >= MAX_CPUS {
            return Err(format!("{what} {n} is beyond the {MAX_CPUS} a mask holds"));
        }
        Ok(n)
    };
    for part in list.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if lo > hi {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        for c in lo..=hi {
            mask[c / 64] |= 1 << (c % 64);
        }
    }
    Ok(mask)
}

/// A mask as the bytes of systemd's `AllowedCPUs`/`AllowedMemoryNodes`
/// (lowest number in the first byte's lowest bit), without trailing zero
/// bytes.
pub fn mask_bytes(mask: &[u64; 16]) -> Vec<u8> {
    let mut bytes: Vec<u8> = mask.iter().flat_map(|w| w.to_le_bytes()).collect();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_bytes() {
        let m = parse_list("0-1,4", "CPU").unwrap();
        assert_eq!(m[0], 0b1_0011);
        assert_eq!(mask_bytes(&m), vec![0b1_0011]);
        assert_eq!(mask_bytes(&parse_list("9", "CPU").unwrap()), vec![0, 0b10]);
        assert!(parse_list("", "CPU").is_err());
        assert!(parse_list("3-1", "CPU").is_err());
        assert!(parse_list("1024", "CPU").is_err());
        assert!(parse_list("a", "node").unwrap_err().contains("node"));
    }
}
