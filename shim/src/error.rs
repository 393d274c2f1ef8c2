//! The shim's errors, each with the gRPC code containerd acts on (CRI, for
//! one, treats NotFound from `Kill` as "already gone").

use containerd_shim::protos::ttrpc::{self, Code};
use vigil_runtime::control;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Unimplemented(String),
    /// The sandbox answered with a status of its own.
    #[error("{message}")]
    Sandbox { code: Code, message: String },
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    fn code(&self) -> Code {
        match self {
            Error::NotFound(_) => Code::NOT_FOUND,
            Error::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            Error::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            Error::AlreadyExists(_) => Code::ALREADY_EXISTS,
            Error::Unimplemented(_) => Code::UNIMPLEMENTED,
            Error::Sandbox { code, .. } => *code,
            Error::Internal(_) => Code::INTERNAL,
        }
    }

    /// An error of a `vigil_runtime` verb. The verbs speak runc's words;
    /// the ones containerd's runc shim turns into codes get the same codes
    /// here.
    pub fn runtime(e: anyhow::Error) -> Error {
        if let Some(control::Error::Status { code, message }) = e.downcast_ref::<control::Error>() {
            return Error::Sandbox {
                code: *code,
                message: message.clone(),
            };
        }
        let text = format!("{e:#}");
        if text.contains("container not running")
            || text.contains("no such process")
            || text.contains("container does not exist")
        {
            Error::NotFound(text)
        } else if text.contains("not paused")
            || text.contains("already paused")
            || text.contains("cannot ")
        {
            Error::FailedPrecondition(text)
        } else {
            Error::Internal(e)
        }
    }
}

impl From<control::Error> for Error {
    fn from(e: control::Error) -> Error {
        Error::runtime(e.into())
    }
}

impl From<Error> for ttrpc::Error {
    fn from(e: Error) -> ttrpc::Error {
        ttrpc::Error::RpcStatus(ttrpc::get_status(e.code(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_wording_maps_to_codes() {
        let gone = Error::runtime(anyhow::anyhow!("container not running"));
        assert_eq!(gone.code(), Code::NOT_FOUND);
        let paused = Error::runtime(anyhow::anyhow!("container c is already paused"));
        assert_eq!(paused.code(), Code::FAILED_PRECONDITION);
        let sandbox = Error::from(control::Error::Status {
            code: Code::INVALID_ARGUMENT,
            message: "no such file".into(),
        });
        assert_eq!(sandbox.code(), Code::INVALID_ARGUMENT);
        assert_eq!(
            Error::runtime(anyhow::anyhow!("disk on fire")).code(),
            Code::INTERNAL
        );
    }
}
