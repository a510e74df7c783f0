//! Before the first case: the target answers at all and accepts the credentials.

use crate::error::Error;
use crate::http::TransportErrorKind;
use crate::runner::Runner;

impl Runner {
    /// An unreachable target or refused credentials stop the run (exit 2);
    /// a target that answers oddly is judged case by case.
    pub(super) async fn preflight(&self) -> Result<(), Error> {
        let t = self.client.target();
        let Some(list) = self.contract.operation("list-interfaces") else {
            return Ok(());
        };
        let params = self.params(list, &[]);
        match self.client.send(list, &params, None).await {
            Ok(answer) if answer.status == 401 || answer.status == 403 => {
                Err(Error::Target(format!(
                    "the target refused the credentials ({} on {}{})\n  (check [auth] in the target file and the environment variables it names)",
                    answer.status,
                    t.ecs_url,
                    list.render_path(&params)
                )))
            }
            Ok(answer) => {
                // What the server holds before the run: no case asks for those addresses.
                if answer.status == 200 {
                    if let Ok(listing) = crate::judge::observed::Listing::parse(&answer.body) {
                        self.addresses.note_listing(&listing);
                    }
                }
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind,
                    TransportErrorKind::Connect | TransportErrorKind::Timeout
                ) =>
            {
                Err(Error::Target(format!(
                    "target unreachable at {}: {e}\n  (check target.ecs_url and the network or proxy settings)",
                    t.ecs_url
                )))
            }
            Err(_) => Ok(()),
        }
    }
}
