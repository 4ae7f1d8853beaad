//! The clock, read at the edge: pure code is handed the time it decides at.

use crate::model::time::Timestamp;

pub fn now() -> Timestamp {
    Timestamp::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}
