//! Text files as blocking readers: the object's bytes streamed from the store and
//! decompressed (plain, gzip, zstd), read on a blocking thread, and I/O errors with what
//! they most likely mean for the file's compression.

use std::io::{BufReader, Read};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::file::{RawFile, ReadError};
use crate::options::{Compression, ReadOptions};

/// A blocking reader over a text file, as handed to the format readers.
pub(crate) type TextReader = Box<dyn Read + Send>;

/// Run `read` over `file`'s text on a blocking thread (the runtime handle is for
/// [`tokio_util::io::SyncIoBridge`]).
pub(crate) async fn with_text<T: Send + 'static>(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
    options: &ReadOptions,
    read: fn(TextReader, &RawFile, &ReadOptions) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    let (store, f, opts) = (store.clone(), file.clone(), options.clone());
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || read(open_text(&store, &f, &opts, handle)?, &f, &opts))
        .await
        .map_err(|e| ReadError::new(file, format!("reader task failed: {e}")))?
}

/// A blocking reader over the object's bytes, decompressed by extension (or as
/// configured). The bytes stream from the store; nothing is held whole in memory.
pub(crate) fn open_text(
    store: &Arc<dyn ObjectStore>,
    file: &RawFile,
    options: &ReadOptions,
    handle: tokio::runtime::Handle,
) -> Result<TextReader, ReadError> {
    let get = handle
        .block_on(store.get(&file.path))
        .map_err(|e| ReadError::new(file, retain_store::describe(&e)))?;
    let bytes = get
        .into_stream()
        .map_err(|e| std::io::Error::other(retain_store::describe(&e)));
    let bridge = tokio_util::io::SyncIoBridge::new_with_handle(
        tokio_util::io::StreamReader::new(bytes),
        handle,
    );
    let raw = BufReader::with_capacity(256 * 1024, bridge);
    let compression = options.compression_of(file);
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| ReadError::new(file, format!("zstd: {e}")))?,
        ),
    })
}

/// An I/O error while reading, with what it most likely means.
pub(crate) fn io_error(file: &RawFile, e: &std::io::Error, compression: Compression) -> ReadError {
    let what = match (compression, e.kind()) {
        (Compression::Gzip, std::io::ErrorKind::UnexpectedEof) => {
            "truncated gzip stream (the file ends before the compressed data does)".to_owned()
        }
        (Compression::Gzip, _) => format!("not valid gzip data: {e}"),
        (Compression::Zstd, _) => format!("not valid zstd data (truncated or corrupt): {e}"),
        _ => e.to_string(),
    };
    ReadError::new(file, what)
}
