//! `rapport calendar`: business-time arithmetic for admins and scripts. Prints only the
//! answer. The logic and its tests live in the `calendar` crate (`CalendarSpec`).

use clap::{Args, Subcommand};

/// Business-time arithmetic with a calendar given on the command line.
#[derive(Subcommand)]
pub enum CalendarCommand {
    /// Prints, as RFC 3339 in the calendar's zone, the earliest instant at which N business
    /// minutes have passed since --start (16:00 plus 60 minutes on a day that closes at
    /// 17:00 is 17:00 that day; 0 minutes is --start itself, even when closed).
    Add {
        #[command(flatten)]
        calendar: CalendarArgs,
        /// The instant to count from, RFC 3339 with an offset: 2026-11-26T16:00:00+01:00.
        #[arg(long)]
        start: String,
        /// Business minutes to add.
        #[arg(long)]
        minutes: u64,
    },
    /// Prints the whole business minutes from --start to --end (negative when --end is
    /// earlier).
    Between {
        #[command(flatten)]
        calendar: CalendarArgs,
        /// RFC 3339 with an offset: 2026-11-26T16:00:00+01:00.
        #[arg(long)]
        start: String,
        /// RFC 3339 with an offset.
        #[arg(long)]
        end: String,
    },
}

/// The calendar, written as on the command line.
#[derive(Args)]
pub struct CalendarArgs {
    /// IANA time zone, such as Europe/Brussels.
    #[arg(long)]
    tz: String,
    /// Weekly hours: "mon-fri 09:00-12:30 13:30-17:00, sat 10:00-14:00" (24:00 may end a day;
    /// days left out are closed).
    #[arg(long)]
    hours: String,
    /// A holiday (repeatable): 2026-12-25 for that date, --12-25 for every 25 December.
    #[arg(long = "holiday", allow_hyphen_values = true)]
    holidays: Vec<String>,
    /// A date with its own hours (repeatable): "2026-12-24 09:00-12:00" or "2026-12-31 closed".
    #[arg(long = "exception")]
    exceptions: Vec<String>,
}

impl CalendarArgs {
    fn spec(self) -> calendar::CalendarSpec {
        calendar::CalendarSpec {
            time_zone: self.tz,
            hours: self.hours,
            holidays: self.holidays,
            exceptions: self.exceptions,
        }
    }
}

/// Runs a `rapport calendar` command and prints its answer on stdout.
pub fn run(cmd: CalendarCommand) -> anyhow::Result<()> {
    let answer = match cmd {
        CalendarCommand::Add {
            calendar,
            start,
            minutes,
        } => calendar.spec().answer_add(&start, minutes)?,
        CalendarCommand::Between {
            calendar,
            start,
            end,
        } => calendar.spec().answer_between(&start, &end)?,
    };
    println!("{answer}");
    Ok(())
}
