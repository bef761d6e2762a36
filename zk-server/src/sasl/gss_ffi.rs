//! The few calls of MIT Kerberos' GSS-API (RFC 2744, `libgssapi_krb5.so.2`) that the
//! GSSAPI mechanism needs, loaded at run time with `dlopen`, so that building the
//! server needs neither the C headers nor clang, and only a server whose JAAS section
//! asks for Kerberos needs the library.
//!
//! The C types are those of MIT's `gssapi.h` on Unix (no packing): `OM_uint32` is
//! `u32`, buffers and OIDs are `{length, pointer}`, names, credentials and contexts
//! are opaque pointers. Every handle is wrapped in an owner that releases it on drop.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

/// The shared object MIT Kerberos' GSS-API is in (Debian: `libgssapi-krb5-2`).
pub const LIBRARY: &str = "libgssapi_krb5.so.2";
/// The Debian package that holds [`LIBRARY`].
pub const DEBIAN_PACKAGE: &str = "libgssapi-krb5-2";
/// The environment variable that names another file to load instead of [`LIBRARY`]
/// (an MIT build outside the loader's path; the tests name a missing one).
pub const LIBRARY_ENV: &str = "ZK_GSSAPI_LIBRARY";

/// The Kerberos V5 mechanism, 1.2.840.113554.1.2.2 (RFC 1964), DER contents.
pub const MECH_KRB5: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// The Kerberos principal name type, 1.2.840.113554.1.2.2.1 (RFC 1964).
pub const NT_KRB5_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";

const GSS_S_COMPLETE: u32 = 0;
const GSS_S_CONTINUE_NEEDED: u32 = 1;
/// The calling and routine error fields of a major status.
const GSS_ERROR_MASK: u32 = 0xffff_0000;
const GSS_C_INDEFINITE: u32 = 0xffff_ffff;
const GSS_C_INITIATE: c_int = 1;
const GSS_C_ACCEPT: c_int = 2;
/// What Java's `GssKrb5Client` asks of a context: mutual authentication, replay and
/// sequence detection, confidentiality and integrity (`GSS_C_*_FLAG`).
const CLIENT_FLAGS: u32 = 2 | 4 | 8 | 16 | 32;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;

/// `gss_buffer_desc`.
#[repr(C)]
pub struct BufferDesc {
    pub length: usize,
    pub value: *mut c_void,
}

impl BufferDesc {
    /// An empty buffer, for GSS-API to fill.
    pub fn empty() -> BufferDesc {
        BufferDesc {
            length: 0,
            value: ptr::null_mut(),
        }
    }

    /// A buffer that borrows `b` (GSS-API only reads input buffers).
    pub fn borrowing(b: &[u8]) -> BufferDesc {
        BufferDesc {
            length: b.len(),
            value: b.as_ptr() as *mut c_void,
        }
    }

    /// The bytes the buffer points at.
    ///
    /// # Safety
    /// `value` must point at `length` readable bytes, or be null.
    pub unsafe fn bytes(&self) -> &[u8] {
        if self.value.is_null() || self.length == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(self.value as *const u8, self.length)
        }
    }
}

/// `gss_OID_desc`.
#[repr(C)]
pub struct OidDesc {
    pub length: u32,
    pub elements: *mut c_void,
}

impl OidDesc {
    /// An OID over the DER contents `der` (a `'static` constant: GSS-API may keep it).
    pub fn of(der: &'static [u8]) -> OidDesc {
        OidDesc {
            length: der.len() as u32,
            elements: der.as_ptr() as *mut c_void,
        }
    }
}

/// `gss_OID_set_desc`.
#[repr(C)]
pub struct OidSetDesc {
    pub count: usize,
    pub elements: *mut OidDesc,
}

type Name = *mut c_void;
type CredId = *mut c_void;
type CtxId = *mut c_void;

type ImportName =
    unsafe extern "C" fn(*mut u32, *const BufferDesc, *const OidDesc, *mut Name) -> u32;
type AcquireCred = unsafe extern "C" fn(
    *mut u32,
    Name,
    u32,
    *const OidSetDesc,
    c_int,
    *mut CredId,
    *mut *mut OidSetDesc,
    *mut u32,
) -> u32;
type AcceptSecContext = unsafe extern "C" fn(
    *mut u32,
    *mut CtxId,
    CredId,
    *const BufferDesc,
    *mut c_void,
    *mut Name,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut u32,
    *mut u32,
    *mut CredId,
) -> u32;
type DisplayName = unsafe extern "C" fn(*mut u32, Name, *mut BufferDesc, *mut *mut OidDesc) -> u32;
type DisplayStatus =
    unsafe extern "C" fn(*mut u32, u32, c_int, *const OidDesc, *mut u32, *mut BufferDesc) -> u32;
type Wrap = unsafe extern "C" fn(
    *mut u32,
    CtxId,
    c_int,
    u32,
    *const BufferDesc,
    *mut c_int,
    *mut BufferDesc,
) -> u32;
type Unwrap = unsafe extern "C" fn(
    *mut u32,
    CtxId,
    *const BufferDesc,
    *mut BufferDesc,
    *mut c_int,
    *mut u32,
) -> u32;
type ReleaseName = unsafe extern "C" fn(*mut u32, *mut Name) -> u32;
type ReleaseCred = unsafe extern "C" fn(*mut u32, *mut CredId) -> u32;
type ReleaseBuffer = unsafe extern "C" fn(*mut u32, *mut BufferDesc) -> u32;
type DeleteSecContext = unsafe extern "C" fn(*mut u32, *mut CtxId, *mut BufferDesc) -> u32;
type RegisterAcceptorIdentity = unsafe extern "C" fn(*const c_char) -> u32;
type AcquireCredFrom = unsafe extern "C" fn(
    *mut u32,
    Name,
    u32,
    *const OidSetDesc,
    c_int,
    *const KeyValueSet,
    *mut CredId,
    *mut *mut OidSetDesc,
    *mut u32,
) -> u32;
type InitSecContext = unsafe extern "C" fn(
    *mut u32,
    CredId,
    *mut CtxId,
    Name,
    *const OidDesc,
    u32,
    u32,
    *mut c_void,
    *const BufferDesc,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut u32,
    *mut u32,
) -> u32;
type InquireCred =
    unsafe extern "C" fn(*mut u32, CredId, *mut Name, *mut u32, *mut c_int, *mut c_void) -> u32;

/// `gss_key_value_element_desc`: one entry of an MIT credential store.
#[repr(C)]
struct KeyValueElement {
    key: *const c_char,
    value: *const c_char,
}

/// `gss_key_value_set_desc`: the credential store of `gss_acquire_cred_from`.
#[repr(C)]
struct KeyValueSet {
    count: u32,
    elements: *const KeyValueElement,
}

/// The library's entry points. The library itself stays loaded for the process.
struct Gss {
    import_name: ImportName,
    acquire_cred: AcquireCred,
    accept_sec_context: AcceptSecContext,
    display_name: DisplayName,
    display_status: DisplayStatus,
    wrap: Wrap,
    unwrap: Unwrap,
    release_name: ReleaseName,
    release_cred: ReleaseCred,
    release_buffer: ReleaseBuffer,
    delete_sec_context: DeleteSecContext,
    register_acceptor_identity: RegisterAcceptorIdentity,
    acquire_cred_from: AcquireCredFrom,
    init_sec_context: InitSecContext,
    inquire_cred: InquireCred,
}

static GSS: OnceLock<Result<Gss, String>> = OnceLock::new();

/// The loaded library, loading it on first use; the error names the library and the
/// Debian package that provides it.
fn gss() -> Result<&'static Gss, String> {
    GSS.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Loads the library (once): an error says which library and package are missing.
pub fn ensure_loaded() -> Result<(), String> {
    gss().map(drop)
}

fn load() -> Result<Gss, String> {
    let file = std::env::var_os(LIBRARY_ENV).unwrap_or_else(|| LIBRARY.into());
    let missing = |e: libloading::Error| {
        format!(
            "cannot load {} (MIT Kerberos' GSS-API {LIBRARY}, which SASL GSSAPI needs; \
             on Debian/Ubuntu: apt-get install {DEBIAN_PACKAGE}): {e}",
            file.to_string_lossy()
        )
    };
    // SAFETY: loading MIT's GSS-API runs only its own initialisers.
    let lib = unsafe { libloading::Library::new(&file) }.map_err(missing)?;
    // The function pointers below must outlive every use: the library is never unloaded.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the type is the prototype of RFC 2744 / MIT's gssapi_krb5.h.
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.map_err(missing)?
        };
    }
    Ok(Gss {
        import_name: sym!("gss_import_name"),
        acquire_cred: sym!("gss_acquire_cred"),
        accept_sec_context: sym!("gss_accept_sec_context"),
        display_name: sym!("gss_display_name"),
        display_status: sym!("gss_display_status"),
        wrap: sym!("gss_wrap"),
        unwrap: sym!("gss_unwrap"),
        release_name: sym!("gss_release_name"),
        release_cred: sym!("gss_release_cred"),
        release_buffer: sym!("gss_release_buffer"),
        delete_sec_context: sym!("gss_delete_sec_context"),
        register_acceptor_identity: sym!("krb5_gss_register_acceptor_identity"),
        acquire_cred_from: sym!("gss_acquire_cred_from"),
        init_sec_context: sym!("gss_init_sec_context"),
        inquire_cred: sym!("gss_inquire_cred"),
    })
}

/// A failed call: its major and minor status, shown as MIT's messages.
#[derive(Debug, Clone)]
pub struct GssError {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for GssError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Ok(g) = gss() else {
            return write!(f, "GSS major {:#x}, minor {:#x}", self.major, self.minor);
        };
        for (code, kind) in [(self.major, GSS_C_GSS_CODE), (self.minor, GSS_C_MECH_CODE)] {
            let mut context = 0u32;
            loop {
                let mut minor = 0u32;
                let mut buf = OwnedBuffer::new();
                // SAFETY: out-parameters are valid; the buffer is released by its owner.
                let major = unsafe {
                    (g.display_status)(
                        &mut minor,
                        code,
                        kind,
                        ptr::null(),
                        &mut context,
                        &mut buf.0,
                    )
                };
                if major & GSS_ERROR_MASK != 0 {
                    write!(f, " (unknown GSS-API code {code:#x})")?;
                    break;
                }
                let s = String::from_utf8_lossy(buf.bytes());
                if kind == GSS_C_GSS_CODE {
                    write!(f, "{s}")?;
                } else {
                    write!(f, " ({s})")?;
                }
                if context == 0 {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for GssError {}

fn check(major: u32, minor: u32) -> Result<u32, GssError> {
    if major & GSS_ERROR_MASK != 0 {
        Err(GssError { major, minor })
    } else {
        Ok(major)
    }
}

/// A buffer GSS-API allocated, released with `gss_release_buffer`.
pub struct OwnedBuffer(BufferDesc);

impl OwnedBuffer {
    fn new() -> OwnedBuffer {
        OwnedBuffer(BufferDesc::empty())
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: GSS-API filled it (or left it empty).
        unsafe { self.0.bytes() }
    }
}

impl Drop for OwnedBuffer {
    fn drop(&mut self) {
        if self.0.value.is_null() {
            return;
        }
        if let Ok(g) = gss() {
            let mut minor = 0;
            // SAFETY: a buffer GSS-API allocated, released once.
            unsafe { (g.release_buffer)(&mut minor, &mut self.0) };
        }
    }
}

/// Makes `keytab` the acceptor keytab of the whole process (MIT's extension).
pub fn register_acceptor_identity(keytab: &CStr) -> Result<(), u32> {
    let g = gss().map_err(|_| u32::MAX)?;
    // SAFETY: a valid NUL-terminated string; MIT copies it.
    match unsafe { (g.register_acceptor_identity)(keytab.as_ptr()) } {
        0 => Ok(()),
        major => Err(major),
    }
}

/// An imported name (`gss_name_t`).
pub struct GssName(Name);

// SAFETY: MIT's GSS-API objects may be used from any thread, one at a time.
unsafe impl Send for GssName {}

impl GssName {
    /// A Kerberos principal name (`GSS_KRB5_NT_PRINCIPAL_NAME`).
    pub fn krb5_principal(p: &str) -> Result<GssName, GssError> {
        let g = gss().map_err(|_| GssError {
            major: u32::MAX,
            minor: 0,
        })?;
        let buf = BufferDesc::borrowing(p.as_bytes());
        let oid = OidDesc::of(NT_KRB5_PRINCIPAL);
        let (mut minor, mut name) = (0, ptr::null_mut());
        // SAFETY: input buffer and OID outlive the call; GSS-API copies them.
        let major = unsafe { (g.import_name)(&mut minor, &buf, &oid, &mut name) };
        check(major, minor)?;
        Ok(GssName(name))
    }

    /// The name as text (`alice@ZK.TEST`).
    pub fn display(&self) -> Result<String, GssError> {
        let g = gss().map_err(|_| GssError {
            major: u32::MAX,
            minor: 0,
        })?;
        let mut minor = 0;
        let mut out = OwnedBuffer::new();
        // SAFETY: a live name; the output buffer is released by its owner.
        let major = unsafe { (g.display_name)(&mut minor, self.0, &mut out.0, ptr::null_mut()) };
        check(major, minor)?;
        Ok(String::from_utf8_lossy(out.bytes()).into_owned())
    }
}

impl Drop for GssName {
    fn drop(&mut self) {
        if let (false, Ok(g)) = (self.0.is_null(), gss()) {
            let mut minor = 0;
            // SAFETY: released once.
            unsafe { (g.release_name)(&mut minor, &mut self.0) };
        }
    }
}

/// Acceptor credentials (`gss_cred_id_t`).
pub struct GssCred(CredId);

// SAFETY: as for names.
unsafe impl Send for GssCred {}

impl GssCred {
    /// Acceptor credentials of the Kerberos mechanism for `name` (any principal of the
    /// keytab when `None`).
    pub fn acquire_accept(name: Option<&GssName>) -> Result<GssCred, GssError> {
        let g = gss().map_err(|_| GssError {
            major: u32::MAX,
            minor: 0,
        })?;
        let mut mech = OidDesc::of(MECH_KRB5);
        let mechs = OidSetDesc {
            count: 1,
            elements: &mut mech,
        };
        let (mut minor, mut cred) = (0, ptr::null_mut());
        // SAFETY: the name and mechanism set outlive the call; out-parameters valid.
        let major = unsafe {
            (g.acquire_cred)(
                &mut minor,
                name.map_or(ptr::null_mut(), |n| n.0),
                GSS_C_INDEFINITE,
                &mechs,
                GSS_C_ACCEPT,
                &mut cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        check(major, minor)?;
        Ok(GssCred(cred))
    }

    /// Credentials of the Kerberos mechanism for `name` from an MIT credential store
    /// (`keytab`, `client_keytab`, `ccache`: MIT's `gss_acquire_cred_from`), for
    /// accepting (`initiate` false) or initiating contexts. Initiator credentials are
    /// resolved at once (`gss_inquire_cred`), so that a keytab the KDC refuses fails
    /// here and not at the first connection.
    pub fn acquire_from(
        name: Option<&GssName>,
        initiate: bool,
        store: &[(&str, &str)],
    ) -> Result<GssCred, String> {
        let g = gss()?;
        let owned: Vec<(CString, CString)> = store
            .iter()
            .map(|(k, v)| {
                Ok((
                    CString::new(*k).map_err(|_| format!("NUL in {k:?}"))?,
                    CString::new(*v).map_err(|_| format!("NUL in the {k} {v:?}"))?,
                ))
            })
            .collect::<Result<_, String>>()?;
        let elements: Vec<KeyValueElement> = owned
            .iter()
            .map(|(k, v)| KeyValueElement {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let set = KeyValueSet {
            count: elements.len() as u32,
            elements: elements.as_ptr(),
        };
        let mut mech = OidDesc::of(MECH_KRB5);
        let mechs = OidSetDesc {
            count: 1,
            elements: &mut mech,
        };
        let usage = if initiate {
            GSS_C_INITIATE
        } else {
            GSS_C_ACCEPT
        };
        let (mut minor, mut cred) = (0, ptr::null_mut());
        // SAFETY: the name, mechanism set and store (with its strings) outlive the call.
        let major = unsafe {
            (g.acquire_cred_from)(
                &mut minor,
                name.map_or(ptr::null_mut(), |n| n.0),
                GSS_C_INDEFINITE,
                &mechs,
                usage,
                &set,
                &mut cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        check(major, minor).map_err(|e| e.to_string())?;
        let cred = GssCred(cred);
        if initiate {
            let (mut minor, mut lifetime) = (0, 0u32);
            // SAFETY: a live credential; only the lifetime is asked for.
            let major = unsafe {
                (g.inquire_cred)(
                    &mut minor,
                    cred.0,
                    ptr::null_mut(),
                    &mut lifetime,
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            check(major, minor).map_err(|e| e.to_string())?;
        }
        Ok(cred)
    }
}

impl Drop for GssCred {
    fn drop(&mut self) {
        if let (false, Ok(g)) = (self.0.is_null(), gss()) {
            let mut minor = 0;
            // SAFETY: released once.
            unsafe { (g.release_cred)(&mut minor, &mut self.0) };
        }
    }
}

/// The acceptor's side of a security context.
pub struct ServerContext {
    ctx: CtxId,
    cred: GssCred,
    complete: bool,
    source: Option<GssName>,
}

// SAFETY: as for names.
unsafe impl Send for ServerContext {}

impl ServerContext {
    pub fn new(cred: GssCred) -> ServerContext {
        ServerContext {
            ctx: ptr::null_mut(),
            cred,
            complete: false,
            source: None,
        }
    }

    /// Accepts the initiator's `token`: the token to answer with (empty when none).
    pub fn step(&mut self, token: &[u8]) -> Result<Vec<u8>, GssError> {
        let g = gss().map_err(|_| GssError {
            major: u32::MAX,
            minor: 0,
        })?;
        let input = BufferDesc::borrowing(token);
        let mut out = OwnedBuffer::new();
        let (mut minor, mut src, mut flags, mut delegated) =
            (0, ptr::null_mut(), 0u32, ptr::null_mut());
        // SAFETY: the context is ours; out-parameters are valid and owned below.
        let major = unsafe {
            (g.accept_sec_context)(
                &mut minor,
                &mut self.ctx,
                self.cred.0,
                &input,
                ptr::null_mut(),
                &mut src,
                ptr::null_mut(),
                &mut out.0,
                &mut flags,
                ptr::null_mut(),
                &mut delegated,
            )
        };
        drop(GssCred(delegated));
        let src = GssName(src);
        let major = check(major, minor)?;
        if major & GSS_S_CONTINUE_NEEDED == 0 {
            self.complete = true;
            self.source = Some(src);
        }
        Ok(out.bytes().to_vec())
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The initiator's principal, once the context is complete.
    pub fn source_name(&self) -> Result<String, GssError> {
        match &self.source {
            Some(n) => n.display(),
            None => Err(GssError {
                major: GSS_S_COMPLETE,
                minor: 0,
            }),
        }
    }

    /// `gss_wrap` with the default quality of protection; `encrypt` asks confidentiality.
    pub fn wrap(&mut self, encrypt: bool, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        wrap(self.ctx, encrypt, msg)
    }

    /// `gss_unwrap`.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, GssError> {
        unwrap(self.ctx, token)
    }
}

impl Drop for ServerContext {
    fn drop(&mut self) {
        if let (false, Ok(g)) = (self.ctx.is_null(), gss()) {
            let mut minor = 0;
            // SAFETY: deleted once; no output token wanted.
            unsafe { (g.delete_sec_context)(&mut minor, &mut self.ctx, ptr::null_mut()) };
        }
    }
}

/// The initiator's side of a security context (Java's `GssKrb5Client` underneath).
pub struct ClientContext {
    ctx: CtxId,
    cred: GssCred,
    target: GssName,
    complete: bool,
}

// SAFETY: as for names.
unsafe impl Send for ClientContext {}

impl ClientContext {
    pub fn new(cred: GssCred, target: GssName) -> ClientContext {
        ClientContext {
            ctx: ptr::null_mut(),
            cred,
            target,
            complete: false,
        }
    }

    /// The next context token for the acceptor's `token` (empty at first); empty
    /// when GSS-API has nothing to send.
    pub fn step(&mut self, token: &[u8]) -> Result<Vec<u8>, GssError> {
        let g = gss().map_err(|_| GssError {
            major: u32::MAX,
            minor: 0,
        })?;
        let input = BufferDesc::borrowing(token);
        let mut out = OwnedBuffer::new();
        let mech = OidDesc::of(MECH_KRB5);
        let (mut minor, mut flags) = (0, 0u32);
        // SAFETY: the context, credential and target are ours; out-parameters valid.
        let major = unsafe {
            (g.init_sec_context)(
                &mut minor,
                self.cred.0,
                &mut self.ctx,
                self.target.0,
                &mech,
                CLIENT_FLAGS,
                0,
                ptr::null_mut(),
                &input,
                ptr::null_mut(),
                &mut out.0,
                &mut flags,
                ptr::null_mut(),
            )
        };
        let major = check(major, minor)?;
        if major & GSS_S_CONTINUE_NEEDED == 0 {
            self.complete = true;
        }
        Ok(out.bytes().to_vec())
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn wrap(&mut self, encrypt: bool, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        wrap(self.ctx, encrypt, msg)
    }

    pub fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, GssError> {
        unwrap(self.ctx, token)
    }
}

impl Drop for ClientContext {
    fn drop(&mut self) {
        if let (false, Ok(g)) = (self.ctx.is_null(), gss()) {
            let mut minor = 0;
            // SAFETY: deleted once; no output token wanted.
            unsafe { (g.delete_sec_context)(&mut minor, &mut self.ctx, ptr::null_mut()) };
        }
    }
}

/// `gss_wrap` on an established context with the default quality of protection;
/// `encrypt` asks confidentiality.
fn wrap(ctx: CtxId, encrypt: bool, msg: &[u8]) -> Result<Vec<u8>, GssError> {
    let g = gss().map_err(|_| GssError {
        major: u32::MAX,
        minor: 0,
    })?;
    let input = BufferDesc::borrowing(msg);
    let mut out = OwnedBuffer::new();
    let (mut minor, mut conf) = (0, 0);
    // SAFETY: an established context; out-parameters valid.
    let major = unsafe {
        (g.wrap)(
            &mut minor,
            ctx,
            c_int::from(encrypt),
            0,
            &input,
            &mut conf,
            &mut out.0,
        )
    };
    check(major, minor)?;
    Ok(out.bytes().to_vec())
}

/// `gss_unwrap` on an established context.
fn unwrap(ctx: CtxId, token: &[u8]) -> Result<Vec<u8>, GssError> {
    let g = gss().map_err(|_| GssError {
        major: u32::MAX,
        minor: 0,
    })?;
    let input = BufferDesc::borrowing(token);
    let mut out = OwnedBuffer::new();
    let (mut minor, mut conf, mut qop) = (0, 0, 0);
    // SAFETY: an established context; out-parameters valid.
    let major = unsafe { (g.unwrap)(&mut minor, ctx, &input, &mut out.0, &mut conf, &mut qop) };
    check(major, minor)?;
    Ok(out.bytes().to_vec())
}

/// The DER contents of a dotted object identifier (`1.2.840.113554.1.2.2`).
#[cfg(test)]
fn der_oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut out = Vec::new();
    for arc in std::iter::once(arcs[0] * 40 + arcs[1]).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oids_are_the_der_of_rfc_1964() {
        assert_eq!(MECH_KRB5, der_oid("1.2.840.113554.1.2.2").as_slice());
        assert_eq!(
            NT_KRB5_PRINCIPAL,
            der_oid("1.2.840.113554.1.2.2.1").as_slice()
        );
        let o = OidDesc::of(MECH_KRB5);
        assert_eq!(o.length, 9);
        assert_eq!(o.elements as *const u8, MECH_KRB5.as_ptr());
    }

    #[test]
    fn buffers_borrow_and_read_back() {
        let b = BufferDesc::borrowing(b"token");
        assert_eq!(b.length, 5);
        // SAFETY: borrows a static slice.
        assert_eq!(unsafe { b.bytes() }, b"token");
        // SAFETY: null and empty.
        assert_eq!(unsafe { BufferDesc::empty().bytes() }, b"");
        assert_eq!(OwnedBuffer::new().bytes(), b"");
        // The C layouts: {size_t, pointer}, {OM_uint32, pointer}.
        assert_eq!(
            std::mem::size_of::<BufferDesc>(),
            2 * std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<OidDesc>(),
            2 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn a_principal_imports_and_displays_back() {
        // Only where the library is installed (CI installs it for the Kerberos tests).
        if ensure_loaded().is_err() {
            return;
        }
        let n = GssName::krb5_principal("alice@ZK.TEST").unwrap();
        assert_eq!(n.display().unwrap(), "alice@ZK.TEST");
        let e = GssError {
            major: 0x0009_0000,
            minor: 0,
        };
        assert!(!e.to_string().is_empty());
    }
}
