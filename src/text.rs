//! Text from a target or a client, made safe to show: control characters
//! (ESC, BEL, CR, NUL, DEL and the C1 range) are written as `\u{1b}`-style
//! escapes, so a body can neither drive the terminal (clear the screen,
//! print a fake "exit 0") nor put raw NUL or ESC bytes into a page.
//! Line feeds and tabs stay: they are how bodies are laid out.

use std::borrow::Cow;

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` with every unsafe control character escaped as `\u001b`.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape_controls`] on an owned string, reusing it when nothing changes.
pub fn escaped(s: String) -> String {
    match escape_controls(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_layout_is_kept() {
        assert_eq!(escape_controls("plain\n\ttext"), "plain\n\ttext");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\u{7}c\rd\0e\u{9b}f"),
            "a\\u001b[2Jb\\u0007c\\u000dd\\u0000e\\u009bf"
        );
    }
}

/// A duration as a person reads it: `850ms`, `2.5s`, `7m 30s`, `1h 05m`.
pub fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    match secs {
        s if s < 1.0 => format!("{}ms", d.as_millis()),
        s if s < 60.0 => format!("{s:.1}s"),
        s if s < 3600.0 => format!("{}m {:02}s", s as u64 / 60, s as u64 % 60),
        s => format!("{}h {:02}m", s as u64 / 3600, s as u64 % 3600 / 60),
    }
}

#[cfg(test)]
mod duration_tests {
    use std::time::Duration;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(super::duration(Duration::from_millis(850)), "850ms");
        assert_eq!(super::duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(super::duration(Duration::from_secs(450)), "7m 30s");
        assert_eq!(super::duration(Duration::from_secs(3900)), "1h 05m");
    }
}
