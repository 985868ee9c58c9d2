//! HAProxy's stats CSV (`/;csv` on the stats port): the one reader of it, for the host's
//! commands, the benchmark and the tests. Columns are found by the header's names, never
//! by position: HAProxy versions add columns.
use serde::Deserialize;

/// The backend the template puts the webapps in.
pub const BACKEND: &str = "nodes";

/// One server of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    /// Its backend: [`BACKEND`] for the default service, a named service's name.
    pub backend: String,
    pub name: String,
    /// `UP`, `DOWN`, `MAINT`, `no check`, ... as HAProxy reports it.
    pub status: String,
    /// Requests (sessions) the server has handled since the last reload.
    pub total: u64,
    /// Sessions open on the server now (what a drain waits for).
    pub current: u64,
}

impl ServerStat {
    pub fn is_up(&self) -> bool {
        self.status == "UP"
    }
}

#[derive(Deserialize)]
struct Row {
    pxname: String,
    svname: String,
    status: String,
    stot: Option<u64>,
    scur: Option<u64>,
}

/// The servers of backend [`BACKEND`]; anything that is not HAProxy's CSV gives none.
pub fn parse_stats_csv(csv: &str) -> Vec<ServerStat> {
    parse_backend_stats(csv, BACKEND)
}

/// The servers of backend `backend`.
pub fn parse_backend_stats(csv: &str, backend: &str) -> Vec<ServerStat> {
    parse_all_stats(csv)
        .into_iter()
        .filter(|server| server.backend == backend)
        .collect()
}

/// The servers of every backend, in the CSV's order.
pub fn parse_all_stats(csv: &str) -> Vec<ServerStat> {
    // The header is a comment line, `# pxname,svname,...`.
    let Some(text) = csv.strip_prefix("# ") else {
        return Vec::new();
    };
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes())
        .deserialize::<Row>()
        .filter_map(Result::ok)
        .filter(|row| !matches!(row.svname.as_str(), "FRONTEND" | "BACKEND"))
        .map(|row| ServerStat {
            backend: row.pxname,
            name: row.svname,
            status: row.status,
            total: row.stot.unwrap_or(0),
            current: row.scur.unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,\n\
stats,FRONTEND,,,1,1,4096,3,0,0,0,0,0,,,,,OPEN,,\n\
nodes,s1,0,0,0,1,,12,0,0,,0,,0,0,0,0,UP,1,\n\
nodes,s2,0,0,0,1,,7,0,0,,0,,0,0,0,0,DOWN,1,\n\
nodes,s3,0,0,0,0,,,0,0,,0,,0,0,0,0,no check,1,\n\
nodes,BACKEND,0,0,0,1,410,19,0,0,0,0,,0,0,0,0,UP,2,\n";

    fn stat(name: &str, status: &str, total: u64) -> ServerStat {
        ServerStat {
            backend: BACKEND.into(),
            name: name.into(),
            status: status.into(),
            total,
            current: 0,
        }
    }

    #[test]
    fn reads_the_servers_of_backend_nodes() {
        let servers = parse_stats_csv(CSV);
        assert_eq!(
            servers,
            [
                stat("s1", "UP", 12),
                stat("s2", "DOWN", 7),
                stat("s3", "no check", 0)
            ]
        );
        assert!(servers[0].is_up() && !servers[1].is_up());
    }

    #[test]
    fn reads_open_sessions() {
        let csv = "# pxname,svname,scur,stot,status\nnodes,s1,3,9,UP\nnodes,s2,,,DOWN\n";
        let current: Vec<u64> = parse_stats_csv(csv).iter().map(|s| s.current).collect();
        assert_eq!(current, [3, 0]);
    }

    #[test]
    fn finds_columns_by_name() {
        let csv = "# svname,pxname,stot,status\ns1,nodes,5,UP\n";
        assert_eq!(parse_stats_csv(csv), [stat("s1", "UP", 5)]);
    }

    #[test]
    fn each_service_has_its_backend() {
        let csv = "# pxname,svname,stot,status\nnodes,s1,5,UP\napi,api1,2,UP\napi,BACKEND,2,UP\n";
        let api = parse_backend_stats(csv, "api");
        assert_eq!((api.len(), api[0].name.as_str()), (1, "api1"));
        assert_eq!(parse_all_stats(csv).len(), 2);
        assert_eq!(parse_stats_csv(csv), [stat("s1", "UP", 5)]);
    }

    #[test]
    fn garbage_gives_no_servers() {
        assert!(parse_stats_csv("").is_empty());
        assert!(parse_stats_csv("<html>503</html>").is_empty());
        assert!(parse_stats_csv("# a,b\n1,2\n").is_empty());
    }
}
