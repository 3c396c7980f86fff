//! One-line texts of errors and their causes, for log lines and error answers.
//!
//! Transport errors nest (reqwest → hyper → io, tonic → transport → connector): the outer
//! messages name the operation, the innermost says what went wrong ("Connection refused").

use std::error::Error;

/// The innermost cause of an error ("Connection refused (os error 111)").
pub fn innermost(error: &(dyn Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `first`, then each cause of `source` that `first` (or an outer cause) does not already
/// say, joined by `: `.
pub fn with_causes(first: String, source: Option<&(dyn Error + 'static)>) -> String {
    let mut text = first;
    let mut cause = source;
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// An error and its causes on one line, without repetitions.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    with_causes(error.to_string(), error.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("request failed")]
    struct Wraps(#[source] std::io::Error);

    fn refused() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused")
    }

    #[test]
    fn causes_are_joined_once_and_the_innermost_found() {
        assert_eq!(chain(&Wraps(refused())), "request failed: refused");
        assert_eq!(chain(&Repeats(refused())), "outer: refused");
        assert_eq!(innermost(&Wraps(refused())), "refused");
        assert_eq!(innermost(&refused()), "refused");
    }
}
