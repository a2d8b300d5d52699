//! The response filter's first rule, applied where every origin (or peer)
//! response comes in, before anything reads it: a final status the node
//! can never relay becomes a [`FetchError`], so the stored, streamed,
//! forwarded and peer paths all answer 502 alike.
//!
//! A 1xx is interim, never final (RFC 9110 §15.2). hyper consumes 100 and
//! 102-199 itself and waits for the final response; a 101 (Switching
//! Protocols) it hands over as final. The node never asks for an upgrade
//! (`Upgrade` is hop-by-hop and dropped, §7.8), so a 101 cannot be valid
//! (§15.2.2), and HTTP/2 has no 101 at all (RFC 9113 §8.6): relayed as
//! `:status 101`, it kills the client's whole connection.
//!
//! Not here: hop-by-hop fields (the client's `end_to_end`), the 304 merge
//! (`origin::stored`), what is stored (`origin::decision`).

use super::client::FetchError;

/// The origin's final status, if the node may answer with it; else why not.
pub fn final_status(status: u16) -> Result<u16, FetchError> {
    if status < 200 {
        return Err(FetchError::Interim(status));
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interim_status_is_never_final() {
        for s in [100, 101, 103, 199] {
            let e = final_status(s).unwrap_err();
            assert_eq!(e.status(), 502, "{s}");
            assert!(e.to_string().contains(&s.to_string()), "{e}");
        }
        for s in [200, 204, 304, 404, 503, 599] {
            assert_eq!(final_status(s).unwrap(), s);
        }
    }
}
