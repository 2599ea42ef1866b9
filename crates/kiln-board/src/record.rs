//! TFRecord framing: `u64 LE length`, `masked_crc32c(length bytes)`, data, `masked_crc32c(data)`.

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF).
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = make_table();
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// TFRecord's masked CRC: rotate right by 15, then add 0xA282EAD8 (wrapping).
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}

/// Frames `data` as one TFRecord (16 bytes of header and footer around the data).
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// Splits `bytes` into the data of its complete, CRC-valid records; a truncated tail is ignored
/// (as TensorBoard's reader does). Returns an error message on a CRC mismatch.
pub fn read_records(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while bytes.len() - pos >= 12 {
        let len_bytes = &bytes[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().map_err(|_| "short length".to_string())?) as usize;
        let len_crc = u32::from_le_bytes(
            bytes[pos + 8..pos + 12]
                .try_into()
                .map_err(|_| "short crc".to_string())?,
        );
        if len_crc != masked_crc32c(len_bytes) {
            return Err(format!("length crc mismatch at offset {pos}"));
        }
        let end = pos + 12 + len + 4;
        if end > bytes.len() {
            break;
        }
        let data = &bytes[pos + 12..pos + 12 + len];
        let crc = u32::from_le_bytes(bytes[end - 4..end].try_into().map_err(|_| "short crc".to_string())?);
        if crc != masked_crc32c(data) {
            return Err(format!("data crc mismatch at offset {pos}"));
        }
        out.push(data.to_vec());
        pos = end;
    }
    Ok(out)
}
