//! The DER a token key's public half comes in: the curves' `CKA_EC_PARAMS` (OIDs, or the
//! `edwards25519` name) and `CKA_EC_POINT`, an OCTET STRING around the uncompressed point.

use super::{Pkcs11Uri, TokenKeyKind, TokenPublic};
use crate::crypto::EcCurve;
use crate::error::{Error, Result};

/// `CKA_EC_PARAMS` (DER) of the curves a token key may use.
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
/// Ed25519 as the OID 1.3.101.112 (RFC 8410) …
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// … or as the PrintableString `edwards25519` (PKCS#11 3.0 §2.3.5; what SoftHSM 2.6 expects).
pub(super) const NAME_ED25519: &[u8] = b"\x13\x0cedwards25519";

pub(super) fn ec_params(curve: EcCurve) -> &'static [u8] {
    match curve {
        EcCurve::P256 => OID_P256,
        EcCurve::P384 => OID_P384,
        EcCurve::P521 => OID_P521,
    }
}

/// Parses `CKA_EC_PARAMS` and `CKA_EC_POINT` (a DER OCTET STRING around the point, or the raw
/// point from tokens that skip the wrapping).
pub(super) fn parse_ec_public(
    uri: &Pkcs11Uri,
    params: &[u8],
    point: &[u8],
) -> Result<(TokenKeyKind, TokenPublic)> {
    let bad = || Error::Pkcs11(format!("{uri}: unreadable CKA_EC_POINT"));
    let point = unwrap_octet_string(point).unwrap_or(point);
    if params == OID_ED25519 || params == NAME_ED25519 {
        if point.len() != 32 {
            return Err(bad());
        }
        return Ok((TokenKeyKind::Ed25519, TokenPublic::Ed25519(point.to_vec())));
    }
    let curve = [EcCurve::P256, EcCurve::P384, EcCurve::P521]
        .into_iter()
        .find(|c| ec_params(*c) == params)
        .ok_or_else(|| {
        Error::Pkcs11(format!("{uri}: the key's curve is not P-256, P-384, P-521 or Ed25519"))
    })?;
    let n = curve.field_len();
    if point.len() != 1 + 2 * n || point[0] != 0x04 {
        return Err(bad());
    }
    Ok((TokenKeyKind::Ec(curve), TokenPublic::Ec(curve, point[1..=n].to_vec(), point[n + 1..].to_vec())))
}

/// The content of a DER OCTET STRING that spans all of `der`.
fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = match first {
        l @ 0..=0x7f => (usize::from(l), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?), rest.get(2..)?),
        _ => return None,
    };
    (body.len() == len).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_string_lengths() {
        assert_eq!(unwrap_octet_string(&[4, 2, 9, 9]), Some(&[9u8, 9][..]));
        let mut long = vec![4, 0x81, 133];
        long.extend([7u8; 133]);
        assert_eq!(unwrap_octet_string(&long).map(<[u8]>::len), Some(133));
        assert_eq!(unwrap_octet_string(&[4, 3, 9, 9]), None);
        assert_eq!(unwrap_octet_string(&[4]), None);
        assert_eq!(unwrap_octet_string(&[3, 1, 0]), None);
    }
}
