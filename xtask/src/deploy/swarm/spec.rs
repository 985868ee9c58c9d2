//! A cluster service ([`cluster::SwarmService`]) as the Engine API's service spec, with
//! the fingerprint of everything but its replica count. Pure: unit-tested.
use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, EndpointSpecModeEnum,
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecRestartPolicy,
};
use cluster::{labels, Cluster, SwarmService, STACK_NAMESPACE};

/// Label holding the fingerprint of the spec a service was made from (replicas aside).
pub(crate) const FINGERPRINT: &str = "lbkit.fingerprint";

const SECOND_NS: i64 = 1_000_000_000;

/// The policy both this spec and stack.yml's template read.
const POLICY: cluster::SwarmPolicy = cluster::SWARM_POLICY;

/// One of the policy's words as the Engine API's enum (a word bollard does not know is a
/// bug in [`cluster::SWARM_POLICY`], caught by the unit test).
fn docker_word<T: std::str::FromStr<Err = String>>(word: &str) -> T {
    word.parse()
        .unwrap_or_else(|err| panic!("cluster::SWARM_POLICY: {err}"))
}

/// The secrets' file mode, written in octal in the policy.
fn secret_mode() -> u32 {
    u32::from_str_radix(POLICY.secret_mode, 8).expect("cluster::SWARM_POLICY: an octal mode")
}

/// The service spec of `service`; `secret_ids` maps each secret's name to its id.
pub(crate) fn service_spec(
    cluster: &Cluster,
    service: &SwarmService,
    secret_ids: &HashMap<String, String>,
) -> ServiceSpec {
    let labels = HashMap::from([
        (labels::PROJECT.to_string(), cluster.project.clone()),
        (labels::ROLE.to_string(), service.role.as_str().to_string()),
        (STACK_NAMESPACE.to_string(), cluster.project.clone()),
    ]);
    let secrets = service
        .secrets
        .iter()
        .map(|secret| TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(secret.target.clone()),
                uid: Some(POLICY.secret_uid.into()),
                gid: Some(POLICY.secret_gid.into()),
                mode: Some(secret_mode()),
            }),
            secret_id: secret_ids.get(&secret.name).cloned(),
            secret_name: Some(secret.name.clone()),
        })
        .collect();
    let container = TaskSpecContainerSpec {
        image: Some(service.image.clone()),
        labels: Some(labels.clone()),
        hostname: Some(service.hostname.clone()),
        env: Some(
            service
                .env
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
        ),
        secrets: Some(secrets),
        // As on the engine: Serf leaves, in-flight requests finish within drain_ms.
        stop_grace_period: Some(i64::from(service.stop_grace_s) * SECOND_NS),
        capability_drop: caps(&service.cap_drop),
        capability_add: caps(&service.cap_add),
        ..Default::default()
    };
    let ports = service
        .published
        .iter()
        .map(|port| EndpointPortConfig {
            target_port: Some(i64::from(*port)),
            published_port: Some(i64::from(*port)),
            // On ha's node only: the routing mesh would publish on every node.
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect();
    let mut spec = ServiceSpec {
        name: Some(service.name.clone()),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(docker_word(POLICY.restart_condition)),
                delay: Some(i64::from(POLICY.restart_delay_s) * SECOND_NS),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(service.constraints.clone()),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(cluster.network.name.clone()),
                ..Default::default()
            }]),
            log_driver: Some(TaskSpecLogDriver {
                name: Some(cluster::LOG_DRIVER.to_string()),
                options: Some(crate::engine::log_options()),
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(service.replicas)),
            }),
            ..Default::default()
        }),
        // A task keeps its slot's name (Serf allows one member per name): the old task
        // stops first; a failed update rolls back, the old version keeps serving.
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(i64::from(service.update_parallelism)),
            order: Some(docker_word(POLICY.update_order)),
            failure_action: Some(docker_word(POLICY.update_failure_action)),
            monitor: Some(i64::from(POLICY.update_monitor_s) * SECOND_NS),
            ..Default::default()
        }),
        // Tasks find each other through DNS (tasks.<service>); no virtual IP.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(docker_word::<EndpointSpecModeEnum>(POLICY.endpoint_mode)),
            ports: Some(ports),
        }),
        ..Default::default()
    };
    let print = fingerprint(&spec);
    spec.labels
        .get_or_insert_with(HashMap::new)
        .insert(FINGERPRINT.to_string(), print);
    spec
}

/// What a service is made from, but its replica count (scaling is not an update) and the
/// secrets' ids (the same secret recreated by `docker stack deploy` has another id).
fn fingerprint(spec: &ServiceSpec) -> String {
    let mut stable = spec.clone();
    stable.mode = None;
    if let Some(secrets) = stable
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
        .and_then(|c| c.secrets.as_mut())
    {
        secrets.iter_mut().for_each(|s| s.secret_id = None);
    }
    // serde_json sorts no map keys: sort them so the same spec always hashes the same.
    let value = serde_json::to_value(&stable).expect("a service spec serializes");
    format!(
        "{:016x}",
        crate::deploy::stable_hash::fnv1a(canonical(&value).as_bytes())
    )
}

fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k:?}:{}", canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// The replica count a spec asks for.
pub(crate) fn replicas(spec: &ServiceSpec) -> Option<u32> {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .and_then(|r| u32::try_from(r).ok())
}

/// Capabilities as a Swarm service spec names them (`CAP_NET_RAW`); None for none.
fn caps(names: &[String]) -> Option<Vec<String>> {
    (!names.is_empty()).then(|| names.iter().map(|n| format!("CAP_{n}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum,
        TaskSpecRestartPolicyConditionEnum,
    };

    #[test]
    fn the_policy_reads_as_the_engine_apis_words() {
        let spec = |word| docker_word::<TaskSpecRestartPolicyConditionEnum>(word);
        assert_eq!(
            spec(POLICY.restart_condition),
            TaskSpecRestartPolicyConditionEnum::ANY
        );
        assert_eq!(
            docker_word::<ServiceSpecUpdateConfigOrderEnum>(POLICY.update_order),
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST
        );
        assert_eq!(
            docker_word::<ServiceSpecUpdateConfigFailureActionEnum>(POLICY.update_failure_action),
            ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK
        );
        assert_eq!(
            docker_word::<EndpointSpecModeEnum>(POLICY.endpoint_mode),
            EndpointSpecModeEnum::DNSRR
        );
        assert_eq!(secret_mode(), 0o400);
    }
    use cluster::{Role, SwarmImages};

    fn swarm_cluster() -> Cluster {
        cluster::parse("project = \"sw\"\n[deploy]\ntarget = \"swarm\"\n", "c.toml").unwrap()
    }

    fn specs(cluster: &Cluster, webapps: u32, webapp_image: &str) -> Vec<ServiceSpec> {
        let images = SwarmImages {
            ha: "lbkit.invalid/sw/ha:1".into(),
            webapp: webapp_image.into(),
            services: [(
                "api".to_string(),
                "lbkit.invalid/sw/webapp-api:1".to_string(),
            )]
            .into(),
        };
        let secrets = cluster.swarm_secrets();
        let ids = HashMap::from([("sw-serf".to_string(), "id1".to_string())]);
        cluster
            .swarm_services(&images, &secrets, webapps)
            .iter()
            .map(|s| service_spec(cluster, s, &ids))
            .collect()
    }

    fn container_of(spec: &ServiceSpec) -> &TaskSpecContainerSpec {
        spec.task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .expect("a container spec")
    }

    fn label(spec: &ServiceSpec, key: &str) -> String {
        spec.labels.as_ref().unwrap()[key].clone()
    }

    #[test]
    fn ha_is_pinned_published_in_host_mode_and_gets_both_secrets() {
        let cluster = swarm_cluster();
        let ha = &specs(&cluster, 4, "w:1")[0];
        assert_eq!(ha.name.as_deref(), Some("sw_ha"));
        assert_eq!(replicas(ha), Some(1));
        let task = ha.task_template.as_ref().unwrap();
        assert_eq!(
            task.placement.as_ref().unwrap().constraints,
            Some(vec!["node.role == manager".to_string()])
        );
        let ports = ha.endpoint_spec.as_ref().unwrap().ports.as_ref().unwrap();
        assert_eq!(ports.len(), 2);
        assert!(ports
            .iter()
            .all(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST)));
        let container = task.container_spec.as_ref().unwrap();
        let secrets = container.secrets.as_ref().unwrap();
        let targets: Vec<_> = secrets
            .iter()
            .map(|s| s.file.as_ref().unwrap().name.clone().unwrap())
            .collect();
        assert_eq!(targets, ["lbkit-serf.json", "lbkit-stats"]);
        assert!(secrets
            .iter()
            .all(|s| s.file.as_ref().unwrap().mode == Some(0o400)));
        let env = container.env.as_ref().unwrap();
        assert!(env.contains(&"SERF_JOIN=tasks.sw_webapps".to_string()));
        // No secret in the environment: only names of files and services.
        assert!(!env
            .iter()
            .any(|e| e.contains("encrypt_key") || e.contains("rpc_auth")));
        assert_eq!(label(ha, labels::ROLE), Role::Balancer.as_str());
    }

    #[test]
    fn webapps_are_named_by_slot_and_join_ha_by_dns() {
        let cluster = swarm_cluster();
        let webapps = &specs(&cluster, 4, "w:1")[1];
        assert_eq!(webapps.name.as_deref(), Some("sw_webapps"));
        assert_eq!(replicas(webapps), Some(4));
        let container = webapps
            .task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap();
        assert_eq!(container.hostname.as_deref(), Some("s{{.Task.Slot}}"));
        let env = container.env.as_ref().unwrap();
        assert!(env.contains(&"SERF_JOIN=tasks.sw_ha".to_string()));
        let secrets: Vec<_> = container
            .secrets
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.secret_name.clone().unwrap())
            .collect();
        assert_eq!(secrets, ["sw-serf"], "the stats password stays with ha");
        assert_eq!(container.stop_grace_period, Some(10 * SECOND_NS));
        assert!(env.contains(&"SERF_BALANCER=ha".to_string()));
        assert!(env.contains(&"SERF_BALANCER_DNS=tasks.sw_ha".to_string()));
        assert!(env.contains(&"DRAIN_MS=2500".to_string()));
    }

    /// Each named service is a Swarm service of its own: its name, its tasks' names and
    /// tag, its image and count; ha knows every service and joins all their tasks.
    #[test]
    fn each_named_service_is_a_swarm_service_of_its_own() {
        let cluster = cluster::parse(
            "project = \"sw\"\n[deploy]\ntarget = \"swarm\"\n[services.api]\ncount = 3\nbuild = \"api\"\nport = 8080\npaths = [\"/api\"]\n",
            "c.toml",
        )
        .unwrap();
        let specs = specs(&cluster, 2, "w:1");
        let names: Vec<_> = specs.iter().map(|s| s.name.clone().unwrap()).collect();
        assert_eq!(names, ["sw_ha", "sw_webapps", "sw_api"]);
        let api = &specs[2];
        assert_eq!(replicas(api), Some(3));
        let container = container_of(api);
        assert_eq!(
            container.image.as_deref(),
            Some("lbkit.invalid/sw/webapp-api:1")
        );
        assert_eq!(container.hostname.as_deref(), Some("api{{.Task.Slot}}"));
        let env = container.env.as_ref().unwrap();
        assert!(env.contains(&"NODE_SERVICE=api".to_string()), "{env:?}");
        assert!(env.contains(&"NODE_PORT=8080".to_string()), "{env:?}");
        assert!(
            env.contains(&"SERF_JOIN=tasks.sw_ha".to_string()),
            "{env:?}"
        );
        let ha_env = container_of(&specs[0]).env.clone().unwrap();
        assert!(ha_env.contains(&"SERF_JOIN=tasks.sw_webapps tasks.sw_api".to_string()));
        let model = ha_env
            .iter()
            .find_map(|e| e.strip_prefix("CLUSTER_TOML="))
            .unwrap();
        let model = cluster::parse(model, "ha").unwrap();
        assert_eq!(model.services["api"].paths, ["/api"]);
        assert_eq!(
            model.services["api"].app.count, 0,
            "a count change leaves ha be"
        );
        // The default service's webapps say no service: theirs is the default.
        let default_env = container_of(&specs[1]).env.clone().unwrap();
        assert!(!default_env.iter().any(|e| e.starts_with("NODE_SERVICE=")));
        // Scaling api leaves ha's spec as it is.
        let mut scaled = cluster.clone();
        scaled.services.get_mut("api").unwrap().app.count = 7;
        let ha = |c: &Cluster| label(&super::tests::specs(c, 2, "w:1")[0], FINGERPRINT);
        assert_eq!(ha(&cluster), ha(&scaled));
    }

    #[test]
    fn every_task_has_bounded_logs_and_webapps_stop_after_their_drain() {
        let cluster = cluster::parse(
            "project = \"sw\"\n[webapps]\ndrain_ms = 15000\n[deploy]\ntarget = \"swarm\"\n",
            "c.toml",
        )
        .unwrap();
        let specs = specs(&cluster, 2, "w:1");
        for spec in &specs {
            let task = spec.task_template.as_ref().unwrap();
            let driver = task.log_driver.as_ref().unwrap();
            assert_eq!(driver.name.as_deref(), Some("json-file"));
            let options = driver.options.as_ref().unwrap();
            assert_eq!(options["max-size"], "10m");
            assert_eq!(options["max-file"], "3");
        }
        let grace = |spec: &ServiceSpec| {
            let task = spec.task_template.as_ref().unwrap();
            task.container_spec.as_ref().unwrap().stop_grace_period
        };
        assert_eq!(grace(&specs[0]), Some(10 * SECOND_NS), "ha");
        assert_eq!(grace(&specs[1]), Some(23 * SECOND_NS), "2.5 s + 15 s + 5 s");
    }

    /// ha's one task is not restarted for what it never uses: the webapp count, where
    /// the host reaches the ports, the registry.
    #[test]
    fn ha_stays_as_it_is_when_the_count_or_host_settings_change() {
        let edited = cluster::parse(
            "project = \"sw\"\n[webapps]\ncount = 5\n[ha]\nbind = \"0.0.0.0\"\n[deploy]\ntarget = \"swarm\"\naddress = \"10.0.0.9\"\n",
            "c.toml",
        )
        .unwrap();
        let ha = |cluster: &Cluster| label(&specs(cluster, 4, "w:1")[0], FINGERPRINT);
        assert_eq!(ha(&swarm_cluster()), ha(&edited));
    }

    #[test]
    fn the_fingerprint_ignores_replicas_and_secret_ids_but_not_the_image() {
        let cluster = swarm_cluster();
        let two = &specs(&cluster, 2, "w:1")[1];
        let eight = &specs(&cluster, 8, "w:1")[1];
        assert_eq!(label(two, FINGERPRINT), label(eight, FINGERPRINT));
        let mut other_ids = two.clone();
        other_ids
            .task_template
            .as_mut()
            .unwrap()
            .container_spec
            .as_mut()
            .unwrap()
            .secrets
            .as_mut()
            .unwrap()[0]
            .secret_id = Some("id2".into());
        assert_eq!(fingerprint(&other_ids), fingerprint(two));
        let new_image = &specs(&cluster, 2, "w:2")[1];
        assert_ne!(label(two, FINGERPRINT), label(new_image, FINGERPRINT));
    }
}
