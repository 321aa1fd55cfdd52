//! Which token a URL gets: a resource covers a URL when it equals it or is a path-segment prefix
//! of it (the resource-indicator rule of `crate::token`), applied to the URL as it will be sent;
//! dot segments and an encoded `/` or `\` never match.

use url::Url;

/// A resource identifier in the form requests are compared in: an absolute `http(s)` URL with a
/// host, no credentials, no fragment, no dot segments (RFC 8707 §2), serialised by the URL
/// parser (scheme and host lowercased, default port dropped, empty path as `/`).
pub(super) fn normalise(resource: &str) -> Option<String> {
    let resource = crate::token::ResourceIndicator::parse(resource).ok()?;
    let url = Url::parse(resource.as_str()).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() || !url.username().is_empty() {
        return None;
    }
    if url.password().is_some() {
        return None;
    }
    Some(url.to_string())
}

/// Whether the resource `matcher` (normalised) covers the request URL `url`: the rule of
/// resource indicators (`crate::token::covers`: the same URL, or a path-segment prefix), applied
/// to the URL as it will be sent and to it without its query. Dot segments in the URL as given,
/// and `%2F` / `%5C` in its path (servers that decode them would see other segments), never
/// match.
pub(super) fn covers_url(matcher: &str, url: &RequestUrl) -> Option<usize> {
    (crate::token::covers(matcher, &url.full) || crate::token::covers(matcher, &url.without_query))
        .then_some(matcher.len())
}

/// A request URL in the forms [`covers_url`] compares.
pub(super) struct RequestUrl {
    full: String,
    without_query: String,
}

impl RequestUrl {
    pub(super) fn parse(raw: &str) -> Option<RequestUrl> {
        let raw = raw.split('#').next().unwrap_or(raw);
        if crate::token::has_dot_segment(raw) || raw.contains('\\') {
            return None;
        }
        let mut url = Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let path = url.path().to_ascii_lowercase();
        if path.contains("%2f") || path.contains("%5c") || crate::token::has_dot_segment(url.path()) {
            return None;
        }
        url.set_fragment(None);
        let full = url.to_string();
        url.set_query(None);
        Some(RequestUrl { full, without_query: url.to_string() })
    }
}
