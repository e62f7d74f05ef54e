//! The media store seam: bytes named by their hex SHA-256 (content-addressed, so a file stored
//! twice is kept once and a name always means the same bytes).
//!
//! - [`DirBlobs`] (embedded mode): files under a directory (`{database.data_dir}/media`), two
//!   levels of fan-out by the name's first characters, written to a temporary file then renamed
//!   (a reader never sees half a file).
//! - [`PgBlobs`] (PostgreSQL, cluster mode): rows of `media_blobs` (`bytea`), which every node
//!   reaches and which is as durable and backed up as the rest of the record. Sizes are capped
//!   by `media.max_bytes` (100 MB, Meta's largest), well under `bytea`'s 1 GB.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use crate::store::StoreError;

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Store `bytes` under `sha256` (their hex SHA-256); storing the same name again is a no-op.
    async fn put(&self, sha256: &str, bytes: Bytes) -> Result<(), StoreError>;
    /// The bytes stored under `sha256`, if any.
    async fn get(&self, sha256: &str) -> Result<Option<Bytes>, StoreError>;
    /// Up to `len` bytes from `offset` of what is stored under `sha256` (fewer at its end), or
    /// None when nothing is: files are served in pieces, so a large one never sits in memory.
    async fn read(
        &self,
        sha256: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<Bytes>, StoreError>;
    /// Delete what is stored under `sha256` (nothing stored is not an error): a contact's
    /// erasure removes the files no record names any more.
    async fn delete(&self, sha256: &str) -> Result<(), StoreError>;
    /// For logs and the architecture page.
    fn name(&self) -> &'static str;
}

/// A name is 64 lowercase hex characters, nothing else: it becomes a path.
fn valid_name(sha256: &str) -> Result<(), StoreError> {
    if sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!("not a media name: {sha256:?}")))
    }
}

/// The embedded media store: a directory.
pub struct DirBlobs {
    root: PathBuf,
}

impl DirBlobs {
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(|e| {
            StoreError::Engine(format!("cannot create media dir {}: {e}", root.display()))
        })?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256)
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Engine(format!("media store: {e}"))
}

#[async_trait]
impl BlobStore for DirBlobs {
    async fn put(&self, sha256: &str, bytes: Bytes) -> Result<(), StoreError> {
        valid_name(sha256)?;
        let path = self.path(sha256);
        if tokio::fs::try_exists(&path).await.map_err(io)? {
            return Ok(());
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            std::fs::create_dir_all(&dir)?;
            let mut file = tempfile::NamedTempFile::new_in(&dir)?;
            file.write_all(&bytes)?;
            file.as_file().sync_all()?;
            file.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Engine(format!("media store: {e}")))?
        .map_err(io)
    }

    async fn get(&self, sha256: &str) -> Result<Option<Bytes>, StoreError> {
        valid_name(sha256)?;
        match tokio::fs::read(self.path(sha256)).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn read(
        &self,
        sha256: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<Bytes>, StoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        valid_name(sha256)?;
        let mut file = match tokio::fs::File::open(self.path(sha256)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io)?;
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(io)?;
        Ok(Some(Bytes::from(buf)))
    }

    async fn delete(&self, sha256: &str) -> Result<(), StoreError> {
        valid_name(sha256)?;
        match tokio::fs::remove_file(self.path(sha256)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    fn name(&self) -> &'static str {
        "directory"
    }
}

/// The cluster media store: PostgreSQL's `media_blobs`.
pub struct PgBlobs {
    pool: sqlx::PgPool,
}

impl PgBlobs {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl BlobStore for PgBlobs {
    async fn put(&self, sha256: &str, bytes: Bytes) -> Result<(), StoreError> {
        valid_name(sha256)?;
        sqlx::query(
            "INSERT INTO media_blobs (sha256, size, data, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(bytes.len() as i64)
        .bind(bytes.as_ref())
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get(&self, sha256: &str) -> Result<Option<Bytes>, StoreError> {
        valid_name(sha256)?;
        let row: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT data FROM media_blobs WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Bytes::from))
    }

    async fn read(
        &self,
        sha256: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<Bytes>, StoreError> {
        valid_name(sha256)?;
        // `data` is stored uncompressed (STORAGE EXTERNAL), so a piece is read without the rest.
        let row: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT substring(data FROM $2 FOR $3) FROM media_blobs WHERE sha256 = $1",
        )
        .bind(sha256)
        // PostgreSQL counts from 1, in `integer`s (files are capped far below 2 GB).
        .bind(i32::try_from(offset).unwrap_or(i32::MAX).saturating_add(1))
        .bind(i32::try_from(len).unwrap_or(i32::MAX))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Bytes::from))
    }

    async fn delete(&self, sha256: &str) -> Result<(), StoreError> {
        valid_name(sha256)?;
        sqlx::query("DELETE FROM media_blobs WHERE sha256 = $1")
            .bind(sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "postgresql"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::limits::digest_hex;

    #[tokio::test]
    async fn a_directory_keeps_bytes_by_their_digest() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = DirBlobs::open(&dir.path().join("media")).expect("open");
        let bytes = Bytes::from_static(b"hello media");
        let name = digest_hex(&bytes);
        assert_eq!(blobs.get(&name).await.expect("get"), None);
        blobs.put(&name, bytes.clone()).await.expect("put");
        blobs.put(&name, bytes.clone()).await.expect("put again");
        assert_eq!(blobs.get(&name).await.expect("get"), Some(bytes));
        let piece = blobs.read(&name, 6, 3).await.expect("read");
        assert_eq!(piece.as_deref(), Some(&b"med"[..]));
        let tail = blobs.read(&name, 9, 100).await.expect("read");
        assert_eq!(tail.as_deref(), Some(&b"ia"[..]));
        assert_eq!(blobs.read(&"0".repeat(64), 0, 1).await.expect("read"), None);
        assert!(blobs.get("../../etc/passwd").await.is_err());
        assert!(blobs.put("ABC", Bytes::new()).await.is_err());
        blobs.delete(&name).await.expect("delete");
        assert_eq!(blobs.get(&name).await.expect("get"), None);
        blobs
            .delete(&name)
            .await
            .expect("deleting nothing is no error");
        assert!(blobs.delete("../x").await.is_err());
    }
}
