//! The `smilecook` command: `serve` (the default), `migrate`, `export-schema`, `seed`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smilecook::{config::Config, graphql::schema, seed, startup};
use tracing_subscriber::EnvFilter;

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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn")),
        )
        .init();
    let command = cli.command.unwrap_or(Command::Serve(Box::new(cli.config)));
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
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
