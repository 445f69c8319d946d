//! `leak dkim generate` and `leak dkim dns`.

use crate::{CliResult, Failure};
use clap::{Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum DkimCommand {
    /// Write a new PKCS#8 PEM private key and print the DNS record to publish.
    Generate {
        /// The DKIM selector: the record is published at <selector>._domainkey.<domain>.
        #[arg(long)]
        selector: String,
        /// The signature algorithm.
        #[arg(long, value_enum, default_value_t = AlgorithmArg::Ed25519)]
        algorithm: AlgorithmArg,
        /// RSA key size.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Where to write the private key (mode 0600; an existing file is never overwritten).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// The signing domain [default: the config's anonymizer.domain]
        #[arg(long)]
        domain: Option<String>,
    },
    /// Print the DNS record of every key in the config.
    Dns,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AlgorithmArg {
    Ed25519,
    Rsa,
}

impl From<AlgorithmArg> for leak_dkim::Algorithm {
    fn from(arg: AlgorithmArg) -> Self {
        match arg {
            AlgorithmArg::Ed25519 => leak_dkim::Algorithm::Ed25519,
            AlgorithmArg::Rsa => leak_dkim::Algorithm::Rsa,
        }
    }
}

pub fn run(config_path: &Path, command: DkimCommand) -> CliResult {
    match command {
        DkimCommand::Generate {
            selector,
            algorithm,
            bits,
            out,
            domain,
        } => {
            if !leak_config::is_valid_selector(&selector) {
                return Err(Failure::refused(anyhow::anyhow!(
                    "invalid selector {selector:?}: use DNS labels of letters, digits and hyphens separated by dots, such as \"leak-ed\""
                )));
            }
            let domain = match domain {
                Some(domain) => domain,
                None => super::parse_config(config_path)?.anonymizer.domain,
            };
            if domain.is_empty() {
                return Err(Failure::refused(anyhow::anyhow!(
                    "no domain: pass --domain or set anonymizer.domain in the config"
                )));
            }
            // leak-dkim refuses RSA sizes outside 2048..=8192 with a clear error.
            leak_dkim::generate_key(algorithm.into(), bits, &out).map_err(Failure::refused)?;
            let record = leak_dkim::dns_record(&selector, &domain, &out, algorithm.into())
                .map_err(Failure::environment)?;
            println!("{record}");
            Ok(())
        }
        DkimCommand::Dns => {
            let config = super::parse_config(config_path)?;
            if config.dkim.keys.is_empty() {
                return Err(Failure::refused(anyhow::anyhow!(
                    "no [[dkim.key]] in the config"
                )));
            }
            for key in &config.dkim.keys {
                let spec = crate::serve::settings::dkim_key(key);
                let record = leak_dkim::dns_record(
                    &spec.selector,
                    &config.anonymizer.domain,
                    &spec.private_key,
                    spec.algorithm,
                )
                .map_err(Failure::refused)?;
                println!("{record}");
            }
            Ok(())
        }
    }
}
