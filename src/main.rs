//! The `smilecook` command: `serve` (the default), `migrate`, `export-schema`, `seed`, `keys`
//! (the signing keys) and `clients` (services that may introspect tokens).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smilecook::{
    config::{Config, LogFormat},
    graphql::schema,
    seed, startup, telemetry,
};

/// mimalloc rather than glibc's allocator: a GraphQL request makes hundreds of small, short-lived
/// allocations across threads, and with mimalloc the server spends markedly less CPU on each
/// (bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Without a subcommand, `smilecook [OPTIONS]` is `smilecook serve [OPTIONS]`.
#[derive(Parser)]
#[command(
    version,
    about = "Smilecook GraphQL: recipe sharing with JWT security",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL), as checked in as `schema.graphql`.
    ExportSchema,
    /// Write demo data: users `ada` and `bob` (password `smilecook-demo`) and recipes, 4 in 5
    /// published. Runs once, on a fresh database (it refuses if the demo users exist).
    Seed(Box<SeedArgs>),
    /// The signing keys of access tokens: `list` (each key's state and dates), `rotate`
    /// (publish a new key now; it signs after KEY_PUBLISH_AHEAD), `revoke KID` (refuse its
    /// tokens at once, on every instance).
    Keys(Box<KeysArgs>),
    /// Services allowed to introspect tokens (`POST /oauth/introspect` with HTTP Basic):
    /// `add ID` (prints the secret, once), `list`, `remove ID`.
    Clients(ClientsArgs),
    /// Trusted documents (the operations a frontend was built with): `trust MANIFEST` (a
    /// graphql-codegen, Relay or Apollo manifest; every instance knows them at once), `list`,
    /// `distrust ID`.
    Documents(DocumentsArgs),
}

#[derive(clap::Args)]
struct DocumentsArgs {
    #[command(subcommand)]
    action: DocumentsAction,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand)]
enum DocumentsAction {
    Trust { manifest: std::path::PathBuf },
    List,
    Distrust { id: String },
}

#[derive(clap::Args)]
struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum KeysAction {
    List,
    Rotate,
    Revoke {
        /// A key id (`smilecook keys list`); it may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(clap::Args)]
struct ClientsArgs {
    #[command(subcommand)]
    action: ClientsAction,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand)]
enum ClientsAction {
    Add { client_id: String },
    List,
    Remove { client_id: String },
}

#[derive(clap::Args)]
struct SeedArgs {
    /// How many recipes to write.
    #[arg(long, default_value_t = seed::DEFAULT_RECIPES)]
    recipes: usize,
    #[command(flatten)]
    config: Config,
}

#[derive(clap::Args)]
struct DatabaseArgs {
    /// Database URL (see `smilecook serve --help`).
    #[arg(long, env = "DATABASE_URL", default_value = smilecook::config::DEFAULT_DATABASE_URL)]
    database_url: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(Box::new(cli.config)));
    // Only the server honours LOG_FORMAT and exports traces; the other commands talk to a
    // person at a terminal.
    let (format, traces) = match &command {
        Command::Serve(config) => (config.log_format, true),
        _ => (LogFormat::Text, false),
    };
    let telemetry = match telemetry::init(format, traces) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::ExportSchema => {
            print!("{}", schema::sdl());
            Ok(())
        }
        Command::Migrate(args) => startup::connect_and_migrate(&args.database_url)
            .await
            .map(|_| tracing::info!("migrations applied"))
            .map_err(Into::into),
        Command::Serve(config) => serve(*config).await.map_err(Into::into),
        Command::Seed(args) => seed_demo(&args.config, args.recipes).await,
        Command::Keys(args) => commands::keys(&args.config, args.action).await,
        Command::Clients(args) => commands::clients(&args.database.database_url, args.action).await,
        Command::Documents(args) => {
            commands::documents(&args.database.database_url, args.action).await
        }
    };
    telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

mod commands {
    //! `smilecook keys`, `smilecook clients` and `smilecook documents`: what they print.

    use smilecook::{
        config::Config, db::service_clients, introspection, startup, startup::keys::for_command,
    };

    use super::{ClientsAction, DocumentsAction, KeysAction};

    type Outcome = Result<(), Box<dyn std::error::Error>>;

    pub async fn keys(config: &Config, action: KeysAction) -> Outcome {
        let store = for_command(config).await?;
        match action {
            KeysAction::List => {
                println!(
                    "{:<44} {:<6} {:<9} {:<26} until",
                    "kid", "alg", "state", "signs from"
                );
                for listed in store.list().await? {
                    let key = &listed.key;
                    let until = listed
                        .dated
                        .until
                        .map_or_else(|| "-".into(), |t| t.to_rfc3339());
                    println!(
                        "{:<44} {:<6} {:<9} {:<26} {until}",
                        key.kid,
                        key.alg,
                        listed.dated.state.name(),
                        key.activates_at.to_rfc3339()
                    );
                }
            }
            KeysAction::Rotate => {
                let key = store.rotate().await?;
                println!(
                    "published {}; it signs from {}",
                    key.kid,
                    key.activates_at.to_rfc3339()
                );
            }
            KeysAction::Revoke { kid } => {
                if !store.revoke(&kid).await? {
                    return Err(format!("no key {kid}, or it was revoked already").into());
                }
                println!(
                    "revoked {kid}: its tokens are refused by every instance within KEYS_REFRESH_INTERVAL"
                );
            }
        }
        Ok(())
    }

    pub async fn clients(database_url: &str, action: ClientsAction) -> Outcome {
        let db = startup::connect_and_migrate(database_url).await?;
        match action {
            ClientsAction::Add { client_id } => {
                let valid = !client_id.is_empty()
                    && client_id.len() <= introspection::MAX_CLIENT_ID
                    && client_id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !valid {
                    return Err("a client id is 1 to 64 letters, digits, '-', '_' or '.'".into());
                }
                match introspection::add_client(&db, &client_id).await? {
                    Some(secret) => println!("client_id={client_id}\nclient_secret={secret}"),
                    None => return Err(format!("client {client_id} exists already").into()),
                }
            }
            ClientsAction::List => {
                for client in service_clients::all(&db).await? {
                    println!(
                        "{} (added {})",
                        client.client_id,
                        client.created_at.to_rfc3339()
                    );
                }
            }
            ClientsAction::Remove { client_id } => {
                if !service_clients::remove(&db, &client_id).await? {
                    return Err(format!("no client {client_id}").into());
                }
                println!("removed {client_id}");
            }
        }
        Ok(())
    }
    pub async fn documents(database_url: &str, action: DocumentsAction) -> Outcome {
        use smilecook::{db::persisted_documents, graphql::persisted, time::Clock};
        let db = startup::connect_and_migrate(database_url).await?;
        match action {
            DocumentsAction::Trust { manifest } => {
                let text = std::fs::read_to_string(&manifest)
                    .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
                let count = persisted::trust_manifest(&db, &text, &Clock::system()).await?;
                println!("trusted {count} documents from {}", manifest.display());
            }
            DocumentsAction::List => {
                for document in persisted_documents::trusted(&db).await? {
                    let first_line = document.body.lines().next().unwrap_or_default();
                    println!("{} {}", document.id, first_line);
                }
            }
            DocumentsAction::Distrust { id } => {
                let id = persisted::normal_id(id.strip_prefix("sha256:").unwrap_or(&id));
                if !persisted_documents::distrust(&db, &id).await? {
                    return Err(format!("no trusted document {id}").into());
                }
                println!("distrusted {id}: running instances stop trusting it within a minute");
            }
        }
        Ok(())
    }
}

async fn seed_demo(config: &Config, recipes: usize) -> Result<(), Box<dyn std::error::Error>> {
    let seeded = seed::run(config, recipes).await?;
    println!(
        "seeded users ada and bob (password `{}`) and {} recipes, {} of them published",
        seed::DEMO_PASSWORD,
        seeded.recipes,
        seeded.published
    );
    Ok(())
}

async fn serve(config: Config) -> Result<(), startup::StartupError> {
    tracing::info!(?config, "starting");
    let server = startup::build(config).await?;
    let addr = server
        .local_addr()
        .map_err(|source| startup::StartupError::Bind {
            addr: ([0, 0, 0, 0], 0).into(),
            source,
        })?;
    tracing::info!("listening on http://{addr}/graphql");
    server
        .run()
        .await
        .map_err(|source| startup::StartupError::Bind { addr, source })
}
