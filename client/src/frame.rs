//! Framing of command bodies (API.md §2.3): `id:u16be | len:u32be | payload[len]`, repeated.

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 6;

/// One frame: a command id and its protobuf payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command id (also on every response frame).
    pub id: u16,
    /// The protobuf payload.
    pub payload: Bytes,
}

/// Why a body is not a sequence of frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The body ends inside a frame.
    #[error("invalid request: truncated frame at byte {0}")]
    Truncated(usize),
    /// The body has no frame at all.
    #[error("invalid request: empty body")]
    Empty,
    /// More frames than the caller accepts.
    #[error("request too large: at most {0} commands per request")]
    TooMany(usize),
}

/// Appends one frame to `out`.
pub fn put_frame(out: &mut BytesMut, id: u16, msg: &impl prost::Message) {
    out.reserve(FRAME_HEADER_LEN + msg.encoded_len());
    out.put_u16(id);
    out.put_u32(msg.encoded_len() as u32);
    msg.encode_raw(out);
}

/// Encodes messages as frames of `id`.
pub fn encode_frames<'a, M: prost::Message + 'a>(
    id: u16,
    msgs: impl IntoIterator<Item = &'a M>,
) -> Bytes {
    let mut out = BytesMut::new();
    for m in msgs {
        put_frame(&mut out, id, m);
    }
    out.freeze()
}

/// Splits a body into at most `max_frames` frames without copying payloads. Never panics on
/// any input, and stops at `max_frames + 1` so a body of tiny frames costs no more than that.
pub fn decode_frames(body: &Bytes, max_frames: usize) -> Result<Vec<Frame>, FrameError> {
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        if frames.len() == max_frames {
            return Err(FrameError::TooMany(max_frames));
        }
        let header = body
            .get(at..at + FRAME_HEADER_LEN)
            .ok_or(FrameError::Truncated(at))?;
        let id = u16::from_be_bytes([header[0], header[1]]);
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
        let start = at + FRAME_HEADER_LEN;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= body.len())
            .ok_or(FrameError::Truncated(at))?;
        frames.push(Frame {
            id,
            payload: body.slice(start..end),
        });
        at = end;
    }
    if frames.is_empty() {
        return Err(FrameError::Empty);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::GenerateKeyRequest;

    /// The worked example of API.md §2.3, byte for byte.
    #[test]
    fn key_generate_frame_matches_the_worked_example() {
        let req = GenerateKeyRequest {
            name: "my-key".into(),
            version: 0,
            associated_data: b"{}".to_vec(),
            length: 32,
        };
        let bytes = encode_frames(207, [&req]);
        assert_eq!(
            hex::encode(&bytes),
            "00cf0000000e0a066d792d6b65791a027b7d2020"
        );
        let frames = decode_frames(&bytes, 10).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].id, 207);
        assert_eq!(
            <GenerateKeyRequest as prost::Message>::decode(frames[0].payload.clone()).unwrap(),
            req
        );
    }

    #[test]
    fn truncated_and_empty_bodies_are_refused() {
        let bytes = Bytes::from_static(&[0, 207, 0, 0, 0, 4, 1, 2]);
        assert_eq!(decode_frames(&bytes, 10), Err(FrameError::Truncated(0)));
        assert_eq!(decode_frames(&Bytes::new(), 10), Err(FrameError::Empty));
        assert_eq!(
            decode_frames(&Bytes::from_static(&[0, 1, 0]), 10),
            Err(FrameError::Truncated(0))
        );
        let huge = Bytes::from_static(&[0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_frames(&huge, 10), Err(FrameError::Truncated(0)));
        let two = Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0]);
        assert_eq!(decode_frames(&two, 10).unwrap().len(), 2);
        assert_eq!(decode_frames(&two, 1), Err(FrameError::TooMany(1)));
    }
}
