//! The form body of a token request (RFC 6749 §3.2, `application/x-www-form-urlencoded`): every
//! parameter at most once, except RFC 8707 `resource`, bounded in size and in resources.

use std::collections::HashMap;

use super::refusal::Refusal;

/// Largest token request body (bytes); a larger one is `invalid_request`.
pub const MAX_TOKEN_REQUEST: usize = 16 * 1024;

/// At most this many distinct `resource` parameters in one token request: each is one token to
/// sign and encrypt.
pub(super) const MAX_RESOURCES_PER_REQUEST: usize = 16;

/// The form parameters of a token request: every name at most once, except `resource` (RFC 8707
/// §2: repeatable). Parameters without a value are treated as omitted (RFC 6749 §3.2).
pub(super) struct Form {
    params: HashMap<String, String>,
    pub(super) resources: Vec<String>,
}

impl Form {
    pub(super) fn parse(body: &[u8]) -> Result<Form, Refusal> {
        let mut params = HashMap::new();
        let mut resources = Vec::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if name == "resource" {
                // Repeats name one resource (one token); the count is bounded.
                if !resources.iter().any(|r| *r == value) {
                    if resources.len() == MAX_RESOURCES_PER_REQUEST {
                        return Err(Refusal::bad("invalid_target", "too many resources in one request"));
                    }
                    resources.push(value.into_owned());
                }
            } else if params.insert(name.clone().into_owned(), value.into_owned()).is_some() {
                return Err(Refusal::bad(
                    "invalid_request",
                    &format!("parameter {} given more than once", crate::untrusted::name(&name)),
                ));
            }
        }
        Ok(Form { params, resources })
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_resources_count_once_and_their_number_is_bounded() {
        let form =
            Form::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").ok();
        assert_eq!(form.map(|f| f.resources), Some(vec!["https://a".to_owned(), "https://b".to_owned()]));
        let many =
            |n: usize| (0..n).map(|i| format!("resource=https%3A%2F%2Frs{i}")).collect::<Vec<_>>().join("&");
        assert_eq!(
            Form::parse(many(MAX_RESOURCES_PER_REQUEST).as_bytes()).ok().map(|f| f.resources.len()),
            Some(16)
        );
        let refused = Form::parse(many(MAX_RESOURCES_PER_REQUEST + 1).as_bytes()).err().map(|r| r.code);
        assert_eq!(refused, Some("invalid_target"));
        // 450 copies of one resource are one resource.
        let same = vec!["resource=https%3A%2F%2Fa"; 450].join("&");
        assert_eq!(Form::parse(same.as_bytes()).ok().map(|f| f.resources.len()), Some(1));
    }
}
