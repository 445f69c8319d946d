//! Minimal DER writing for the two RSA wrappers mail-auth does not produce:
//! PKCS#8 `PrivateKeyInfo` around a PKCS#1 private key (RFC 5208), and
//! `SubjectPublicKeyInfo` around a PKCS#1 public key (RFC 5280), which is what
//! the `p=` tag of an RSA DKIM record carries (RFC 6376 §3.6.1).

/// AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;

/// One tag-length-value with a definite-length encoding.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// PKCS#8 v1 `PrivateKeyInfo` holding a PKCS#1 `RSAPrivateKey`.
pub fn rsa_pkcs8_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut body = tlv(INTEGER, &[0]);
    body.extend_from_slice(RSA_ALGORITHM_ID);
    body.extend_from_slice(&tlv(OCTET_STRING, pkcs1));
    tlv(SEQUENCE, &body)
}

/// `SubjectPublicKeyInfo` holding a PKCS#1 `RSAPublicKey`.
pub fn rsa_spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8]; // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut body = RSA_ALGORITHM_ID.to_vec();
    body.extend_from_slice(&tlv(BIT_STRING, &bits));
    tlv(SEQUENCE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_short_and_long_forms() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
        let mid = tlv(0x04, &[0u8; 200]);
        assert_eq!(&mid[..3], &[0x04, 0x81, 200]);
    }
}
