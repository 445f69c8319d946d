//! `leak user add|passwd|remove|list`: accounts in `auth.users_file`, or in
//! the cluster's database when `[cluster]` is set (any node's config will
//! do: every node sees the change within a second). A single daemon sees a
//! users-file change at its next reload (SIGHUP or `leak reload`), which
//! also empties its credential cache.

use crate::{CliResult, Failure};
use clap::Subcommand;
use leak_accounts::Users;
use std::io::Read;
use std::path::Path;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a submission account (prints a generated password unless --password-stdin).
    Add {
        /// The account name clients log in with.
        name: String,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        /// Where delivery-failure reports for this account go.
        #[arg(long, value_name = "ADDR")]
        notify: Option<String>,
        /// Another name or address of this person, scrubbed from the
        /// messages and refused as a To/Cc ("Jean Dupont",
        /// jd1987@example.org). Repeatable.
        #[arg(long = "alias", value_name = "NAME_OR_ADDR")]
        aliases: Vec<String>,
    },
    /// Change an account's password (prints a generated one unless --password-stdin).
    Passwd {
        /// The account whose password changes.
        name: String,
        /// Read the new password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account.
    Remove {
        /// The account to remove.
        name: String,
    },
    /// List accounts.
    List,
}

pub fn run(config: &Path, command: UserCommand) -> CliResult {
    let config = super::parse_config(config)?;
    if let Some(cluster) = &config.cluster {
        return run_shared(&cluster.database, command);
    }
    let path = &config.auth.users_file;
    let mut users = Users::load(path).map_err(Failure::environment)?;
    match command {
        UserCommand::Add {
            name,
            password_stdin,
            notify,
            aliases,
        } => {
            check_notify(notify.as_deref())?;
            let (password, generated) = new_password(password_stdin)?;
            users
                .add_with_aliases(&name, &password, notify, aliases)
                .map_err(Failure::refused)?;
            users.save(path).map_err(Failure::environment)?;
            if generated {
                println!("added {name}; password: {password}");
            } else {
                println!("added {name}");
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = new_password(password_stdin)?;
            users
                .set_password(&name, &password)
                .map_err(Failure::refused)?;
            users.save(path).map_err(Failure::environment)?;
            if generated {
                println!("changed the password of {name}; password: {password}");
            } else {
                println!("changed the password of {name}");
            }
        }
        UserCommand::Remove { name } => {
            users.remove(&name).map_err(Failure::refused)?;
            users.save(path).map_err(Failure::environment)?;
            println!("removed {name}");
        }
        UserCommand::List => print_list(&users),
    }
    Ok(())
}

/// The same commands against the cluster's database.
fn run_shared(database: &str, command: UserCommand) -> CliResult {
    use leak_cluster::PolicyStore;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::environment)?;
    let postgres = leak_cluster::Postgres::new(database).map_err(Failure::refused)?;
    let failure = |error: leak_cluster::ClusterError| match error {
        leak_cluster::ClusterError::Accounts(error) => Failure::refused(error),
        other => Failure::environment(other),
    };
    runtime.block_on(async {
        postgres.migrate().await.map_err(failure)?;
        match command {
            UserCommand::Add {
                name,
                password_stdin,
                notify,
                aliases,
            } => {
                check_notify(notify.as_deref())?;
                let (password, generated) = new_password(password_stdin)?;
                // Checked and hashed as for the users file.
                let mut one = Users::default();
                one.add_with_aliases(&name, &password, notify, aliases)
                    .map_err(Failure::refused)?;
                let account = one.users.remove(&name).expect("just added");
                postgres
                    .add_account(&name, account)
                    .await
                    .map_err(failure)?;
                match generated {
                    true => println!("added {name}; password: {password}"),
                    false => println!("added {name}"),
                }
            }
            UserCommand::Passwd {
                name,
                password_stdin,
            } => {
                let (password, generated) = new_password(password_stdin)?;
                let Some(account) = postgres.account(&name).await.map_err(failure)? else {
                    return Err(Failure::refused(leak_accounts::AccountsError::NotFound(
                        name,
                    )));
                };
                // Hashed as for the users file, then the row replaced.
                let mut one = Users::default();
                one.users.insert(name.clone(), account);
                one.set_password(&name, &password)
                    .map_err(Failure::refused)?;
                let account = one.users.remove(&name).expect("just changed");
                postgres.remove_account(&name).await.map_err(failure)?;
                postgres
                    .add_account(&name, account)
                    .await
                    .map_err(failure)?;
                match generated {
                    true => println!("changed the password of {name}; password: {password}"),
                    false => println!("changed the password of {name}"),
                }
            }
            UserCommand::Remove { name } => {
                postgres.remove_account(&name).await.map_err(failure)?;
                println!("removed {name}");
            }
            UserCommand::List => print_list(&postgres.accounts().await.map_err(failure)?),
        }
        Ok(())
    })
}

fn check_notify(notify: Option<&str>) -> Result<(), Failure> {
    match notify {
        Some(address) if !address.contains('@') || address.chars().any(char::is_whitespace) => {
            Err(Failure::refused(anyhow::anyhow!(
                "--notify `{address}` is not an e-mail address"
            )))
        }
        _ => Ok(()),
    }
}

fn print_list(users: &Users) {
    for (name, account) in &users.users {
        let mut line = name.clone();
        if let Some(notify) = &account.notify {
            line.push_str(&format!("\tnotify={notify}"));
        }
        if !account.aliases.is_empty() {
            line.push_str(&format!("\taliases={}", account.aliases.len()));
        }
        println!("{line}");
    }
}

/// The password read from standard input, or a generated one (`true`:
/// print it, nobody else knows it).
fn new_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    Ok(match from_stdin {
        true => (read_password()?, false),
        false => (generate_password(), true),
    })
}

fn read_password() -> Result<String, Failure> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(Failure::environment)?;
    let password = input.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        return Err(Failure::refused(anyhow::anyhow!(
            "no password on standard input"
        )));
    }
    Ok(password)
}

/// 20 characters from an unambiguous alphabet (~115 bits).
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| ALPHABET[rand_index(ALPHABET.len())] as char)
        .collect()
}

fn rand_index(len: usize) -> usize {
    use rand::Rng;
    rand::rngs::OsRng.gen_range(0..len)
}
