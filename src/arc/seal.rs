//! Sealing the onboarding credential to one instance: the connector's documents run twice; the
//! first run (`prepare`) makes an RSA key pair on the instance, in memory, and reports only its
//! public key; the credential goes to the second run (`connect`) sealed to that key, so only
//! that instance, during its onboarding, can open it (docs/security.md, threat model).
//!
//! Format `mdcseal1.<key id>.<wrapped>.<body>`, chosen so that `openssl` 1.0.2 and later (every
//! supported Linux distribution) and .NET Framework 4.6.2 (Windows PowerShell 5.1) open it with
//! nothing secret on a command line:
//! - a one-time passphrase `p` (32 random bytes, as 64 lowercase hex digits), the credential's
//!   SHA-256 `d` (64 lowercase hex digits) and the command's binding `b` (32 hex digits: the first
//!   half of the SHA-256 of its parameters and the instance id, [`binding`]) are wrapped together with RSA-OAEP, SHA-256 and MGF1
//!   SHA-256 (`openssl pkeyutl -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256`;
//!   `RSACng.Decrypt(…, RSAEncryptionPadding.OaepSHA256)`);
//! - the body is what `openssl enc -d -aes-256-cbc -md sha256 -pass file:<p>` opens: `Salted__`,
//!   an 8-byte salt, then AES-256-CBC (PKCS#7) under the key and IV of OpenSSL's `EVP_BytesToKey`
//!   with SHA-256 and one iteration (D1 = SHA-256(p‖salt) is the key, the first 16 bytes of
//!   D2 = SHA-256(D1‖p‖salt) the IV). That derivation is weak for passwords; `p` is 256 random
//!   bits, so it only has to be a pseudo-random function;
//! - CBC carries no MAC: the instance compares the opened credential's SHA-256 with `d`, which
//!   RSA-OAEP (non-malleable) protects, so a changed body or a body of another sealing is refused;
//!   and it compares `b` with its own parameters and instance id, so a sealed value replayed with
//!   other parameters (another group, a proxy) or to another instance is refused.
//!
//! The document parameter is bounded by SSM's document size: "The content of the document must
//! not exceed 64KB. This quota also includes the content specified for input parameters at
//! runtime" (CreateDocument, Content); a sealed Entra token is about 3 KB.

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};

use super::secret::Secret;

/// Modulus size of the instances' sealing keys (RSA 2048: hex of 256 bytes).
const MODULUS_HEX_LEN: usize = 512;
/// The body may be at most this long in base64 (the documents' `allowedPattern`).
const MAX_BODY_BASE64: usize = 16_385;

/// The public half of the key an instance made for one onboarding, as its `prepare` run reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealingKey {
    /// First 16 hex digits of the SHA-256 of the modulus in lowercase hex: the instance's name for it.
    pub id: String,
    /// The modulus, lowercase hex (exponent 65537).
    modulus: Vec<u8>,
}

impl SealingKey {
    /// The key with this modulus (lowercase or uppercase hex, 2048 bits, exponent 65537).
    pub(crate) fn from_modulus_hex(hex: &str) -> Result<Self, String> {
        let hex = hex.to_ascii_lowercase();
        if hex.len() != MODULUS_HEX_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("the reported public key is not an RSA 2048 modulus ({} hex digits)", hex.len()));
        }
        let modulus: Vec<u8> =
            (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
        if modulus.first().is_none_or(|b| *b < 0x80) {
            return Err("the reported public key's modulus is shorter than 2048 bits".into());
        }
        let id = lower_hex(digest(&SHA256, hex.as_bytes()).as_ref())[..16].to_string();
        Ok(SealingKey { id, modulus })
    }

    /// `credential` sealed to this key (`mdcseal1` format), bound to the command's [`binding`].
    pub(crate) fn seal(&self, credential: &Secret, binding: &str) -> Result<String, String> {
        let plain = credential.expose().as_bytes();
        let mut random = [0u8; 40];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| "no random source".to_string())?;
        let (passphrase, salt) = (lower_hex(&random[..32]), &random[32..]);
        let wrapped_plain = format!("{passphrase}{}{binding}", lower_hex(digest(&SHA256, plain).as_ref()));
        let public = PublicEncryptingKey::from_der(&self.spki()).map_err(|e| format!("public key: {e}"))?;
        let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| "public key: not usable for RSA-OAEP")?;
        let mut wrapped = vec![0u8; oaep.ciphertext_size()];
        let wrapped = oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, wrapped_plain.as_bytes(), &mut wrapped, None)
            .map_err(|_| "RSA-OAEP failed")?;
        let (key, iv) = bytes_to_key(passphrase.as_bytes(), salt);
        let cipher = UnboundCipherKey::new(&AES_256, &key).map_err(|_| "AES key")?;
        let cipher = PaddedBlockEncryptingKey::cbc_pkcs7(cipher).map_err(|_| "AES-CBC")?;
        let mut body = plain.to_vec();
        cipher
            .less_safe_encrypt(&mut body, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| "AES-CBC failed")?;
        let framed = [b"Salted__".as_slice(), salt, &body].concat();
        let body = base64(&framed);
        if body.len() > MAX_BODY_BASE64 {
            return Err(format!("the credential is too long to seal ({} bytes)", plain.len()));
        }
        Ok(format!("mdcseal1.{}.{}.{body}", self.id, base64(wrapped)))
    }

    /// X.509 SubjectPublicKeyInfo DER of the key (rsaEncryption, n, e = 65537).
    fn spki(&self) -> Vec<u8> {
        let mut n = vec![0u8];
        n.extend_from_slice(&self.modulus);
        let rsa_key = der(0x30, &[der(0x02, &n), der(0x02, &[0x01, 0x00, 0x01])].concat());
        let algorithm = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
        let bits = der(0x03, &[&[0u8][..], &rsa_key].concat());
        der(0x30, &[&algorithm[..], &bits].concat())
    }
}

/// The connect command's parameters the sealed credential is bound to, in this order (all but
/// `phase` and `sealedCredential`), then the instance id.
pub(crate) const BOUND_PARAMETERS: [&str; 13] = [
    "tenantId",
    "subscriptionId",
    "resourceGroup",
    "location",
    "cloud",
    "connectorId",
    "accountId",
    "servicePrincipalId",
    "credentialType",
    "proxyUrl",
    "privateLinkScope",
    "correlationId",
    "force",
];

/// The binding of a sealed credential: the first 32 hex digits of the SHA-256 of
/// `name=value\n` for each of [`BOUND_PARAMETERS`] (empty when absent), then `instance=<id>\n`.
/// Every value passed the documents' patterns (no newline), so the text is unambiguous; the
/// scripts compute the same from what they were given.
pub(crate) fn binding(parameters: &std::collections::BTreeMap<&'static str, String>, instance_id: &str) -> String {
    let mut text = String::new();
    for name in BOUND_PARAMETERS {
        text.push_str(&format!("{name}={}\n", parameters.get(name).map_or("", String::as_str)));
    }
    text.push_str(&format!("instance={instance_id}\n"));
    lower_hex(digest(&SHA256, text.as_bytes()).as_ref())[..32].to_string()
}

/// OpenSSL's `EVP_BytesToKey` with SHA-256, one iteration, for AES-256-CBC: (key, IV).
fn bytes_to_key(passphrase: &[u8], salt: &[u8]) -> ([u8; 32], [u8; 16]) {
    let d1 = digest(&SHA256, &[passphrase, salt].concat());
    let d2 = digest(&SHA256, &[d1.as_ref(), passphrase, salt].concat());
    let mut key = [0u8; 32];
    key.copy_from_slice(d1.as_ref());
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&d2.as_ref()[..16]);
    (key, iv)
}

/// One DER element (definite length).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (RFC 4648 §4), as `openssl base64 -d -A` and .NET read it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey};
    use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey};

    use super::*;

    /// An RSA 2048 key made with `openssl genpkey` (PKCS#8 DER, base64) and its modulus (hex).
    const FIXTURE: &str = include_str!("seal_test_key.txt");

    fn unbase64(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let values: Vec<u32> = text
            .bytes()
            .filter(|b| *b != b'=')
            .filter_map(|b| ALPHABET.iter().position(|a| *a == b).map(|p| p as u32))
            .collect();
        let mut out = Vec::new();
        for chunk in values.chunks(4) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
            out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
        }
        out
    }

    /// Opens a sealed credential the way the documents do (the instance's side), with the private key.
    fn open(sealed: &str, private: &PrivateDecryptingKey) -> Result<String, &'static str> {
        let parts: Vec<&str> = sealed.split('.').collect();
        let [tag, _, wrapped, body] = parts[..] else { return Err("parts") };
        assert_eq!(tag, "mdcseal1");
        let oaep = OaepPrivateDecryptingKey::new(private.clone()).map_err(|_| "key")?;
        let mut out = vec![0u8; oaep.min_output_size()];
        let unwrapped =
            oaep.decrypt(&OAEP_SHA256_MGF1SHA256, &unbase64(wrapped), &mut out, None).map_err(|_| "oaep")?;
        let unwrapped = std::str::from_utf8(unwrapped).map_err(|_| "utf8")?.to_string();
        let (passphrase, rest) = unwrapped.split_at(64);
        let (wanted, bound) = rest.split_at(64);
        assert_eq!(bound, BINDING);
        let body = unbase64(body);
        assert_eq!(&body[..8], b"Salted__");
        let (key, iv) = bytes_to_key(passphrase.as_bytes(), &body[8..16]);
        let cipher = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &key).map_err(|_| "aes")?)
            .map_err(|_| "cbc")?;
        let mut data = body[16..].to_vec();
        let plain = cipher.decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv))).map_err(|_| "pad")?;
        if lower_hex(digest(&SHA256, plain).as_ref()) != wanted {
            return Err("digest");
        }
        String::from_utf8(plain.to_vec()).map_err(|_| "utf8")
    }

    const BINDING: &str = "0123456789abcdef0123456789abcdef";

    impl SealingKey {
        fn seal_bound(&self, credential: &Secret) -> Result<String, String> {
            self.seal(credential, BINDING)
        }
    }

    #[test]
    fn the_binding_covers_every_parameter_and_the_instance() {
        let parameters: std::collections::BTreeMap<&'static str, String> =
            BOUND_PARAMETERS.iter().map(|n| (*n, format!("v-{n}"))).collect();
        let bound = binding(&parameters, "i-0123456789abcdef0");
        assert_eq!(bound.len(), 32);
        // The scripts' text, hashed by hand.
        let text: String = BOUND_PARAMETERS.iter().map(|n| format!("{n}=v-{n}\n")).collect::<String>()
            + "instance=i-0123456789abcdef0\n";
        assert_eq!(bound, lower_hex(digest(&SHA256, text.as_bytes()).as_ref())[..32]);
        assert_ne!(bound, binding(&parameters, "i-0123456789abcdef1"));
        let mut moved = parameters.clone();
        moved.insert("resourceGroup", "elsewhere".into());
        assert_ne!(bound, binding(&moved, "i-0123456789abcdef0"));
    }

    fn fixture() -> (PrivateDecryptingKey, SealingKey) {
        let mut lines = FIXTURE.lines();
        let private = PrivateDecryptingKey::from_pkcs8(&unbase64(lines.next().unwrap_or_default())).expect("key");
        let key = SealingKey::from_modulus_hex(lines.next().unwrap_or_default()).expect("modulus");
        (private, key)
    }

    #[test]
    fn only_the_private_key_opens_what_is_sealed_and_a_changed_body_is_refused() {
        let (private, key) = fixture();
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl".repeat(40);
        let sealed = key.seal_bound(&Secret::new(token.clone())).expect("sealed");
        assert!(sealed.starts_with(&format!("mdcseal1.{}.", key.id)));
        assert!(!sealed.contains(&token[..20]));
        assert_eq!(open(&sealed, &private).as_deref(), Ok(token.as_str()));
        // Two sealings of the same credential differ (fresh passphrase and salt).
        assert_ne!(sealed, key.seal_bound(&Secret::new(token.clone())).expect("sealed"));
        // Another sealing's body under this wrap: the digest (or the padding) refuses it.
        let other = key.seal_bound(&Secret::new("another-credential".into())).expect("sealed");
        let mut parts: Vec<&str> = sealed.split('.').collect();
        parts[3] = other.split('.').nth(3).unwrap_or_default();
        assert!(open(&parts.join("."), &private).is_err());
        // Another key cannot open it.
        let stranger = PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
        assert_eq!(open(&sealed, &stranger), Err("oaep"));
    }

    #[test]
    fn the_key_id_is_the_documents_and_bad_public_keys_are_refused() {
        let (_, key) = fixture();
        let modulus = FIXTURE.lines().nth(1).unwrap_or_default();
        let id = lower_hex(digest(&SHA256, modulus.as_bytes()).as_ref());
        assert_eq!(key.id, id[..16]);
        assert_eq!(SealingKey::from_modulus_hex(&modulus.to_ascii_uppercase()).map(|k| k.id), Ok(key.id));
        assert!(SealingKey::from_modulus_hex(&modulus[..510]).is_err());
        assert!(SealingKey::from_modulus_hex(&format!("0{}", &modulus[1..])).is_err());
        assert!(SealingKey::from_modulus_hex(&modulus.replacen(&modulus[..1], "g", 1)).is_err());
    }

    #[test]
    fn base64_is_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(unbase64("Zm9vYmE="), b"fooba");
    }
}
