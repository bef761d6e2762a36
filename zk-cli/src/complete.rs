//! Tab completion, as zkCli's `JLineZNodeCompleter`: the first word completes
//! to a command name, a word starting with `/` to a znode path (the children
//! of its parent, fetched from the server).

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::client_api::Client;
use crate::commands::COMMANDS;

pub struct ZkHelper {
    pub client: Arc<Mutex<Option<Client>>>,
    pub handle: tokio::runtime::Handle,
}

impl ZkHelper {
    fn paths(&self, token: &str) -> Vec<String> {
        let Some(zk) = self.client.lock().expect("client lock").clone() else {
            return Vec::new();
        };
        let idx = token.rfind('/').unwrap_or(0);
        let (dir, prefix) = (&token[..idx], &token[idx + 1..]);
        let parent = if dir.is_empty() { "/" } else { dir };
        let fetched = self.handle.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), zk.get_children(parent, false)).await
        });
        let Ok(Ok(mut children)) = fetched else {
            return Vec::new();
        };
        children.sort();
        children
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .map(|c| format!("{dir}/{c}"))
            .collect()
    }
}

impl Completer for ZkHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(char::is_whitespace)
            .map(|i| i + 1)
            .unwrap_or(0);
        let token = &before[start..];
        let first_word = before[..start].trim().is_empty();
        let cands: Vec<String> = if token.starts_with('/') {
            self.paths(token)
        } else if first_word {
            let mut v: Vec<String> = COMMANDS
                .iter()
                .map(|c| c.name)
                .filter(|c| c.starts_with(token))
                .map(str::to_owned)
                .collect();
            v.sort();
            v
        } else {
            Vec::new()
        };
        Ok((
            start,
            cands
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for ZkHelper {
    type Hint = String;
}

impl Highlighter for ZkHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for ZkHelper {}

impl Helper for ZkHelper {}
