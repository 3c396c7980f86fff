//! `helios create-deployment-group NAME SELECTOR...`: creates a deployment group of the
//! hosts matching every selector (`POST /deployment-group`).
//!
//! The selectors are checked with Helios's grammar before the master is asked; a bad one is
//! an error, `Bad host selector expression: '<s>'`. Unless `-q` or `--json`, the group is
//! printed first (`Creating deployment group: <JSON>`). The master's answer is printed as
//! JSON in every mode when it is `CREATED` or `NOT_MODIFIED` (exit 0); `CONFLICT` (the name
//! exists with other selectors) prints `Failed: CreateDeploymentGroupResponse{status=CONFLICT}`
//! (nothing with `-q`, the JSON with `--json`) and exits 1.

use helios_api::model::host_selector::Operand;
use helios_api::{CreateDeploymentGroupStatus, DeploymentGroup, HostSelector, Operator};

use super::Context;
use crate::args::CreateDeploymentGroupArgs;
use crate::client::HeliosClient;
use crate::output::{json, responses};
use crate::selector::{self, BadSelector};

/// Runs the command.
pub async fn run(
    args: &CreateDeploymentGroupArgs,
    client: &HeliosClient,
    ctx: &mut Context<'_>,
) -> anyhow::Result<i32> {
    let selectors = parse_selectors(&args.host_selectors)?;
    let group = DeploymentGroup::new(args.name.clone(), selectors);
    if !args.quiet && !ctx.json {
        writeln!(
            ctx.out,
            "Creating deployment group: {}",
            json::compact(&json::to_value(&group))
        )?;
        ctx.out.flush()?;
    }
    let response = client.create_deployment_group(&group).await?;
    let answer = json::compact(&json::to_value(&response));
    if response.status != CreateDeploymentGroupStatus::Conflict {
        writeln!(ctx.out, "{answer}")?;
        return Ok(0);
    }
    if ctx.json {
        writeln!(ctx.out, "{answer}")?;
    } else if !args.quiet {
        writeln!(
            ctx.out,
            "Failed: {}",
            responses::create_deployment_group_response(&response)
        )?;
    }
    Ok(1)
}

/// Parses selector arguments as Helios's CLI does: exactly the expressions its grammar
/// accepts (see [`selector`]), the first bad one failing with its message.
///
/// `in`/`notin` values are deduplicated and sorted, the order `helios_api`'s parser gives
/// them (Helios keeps them in a `HashSet`'s order), so that the same values typed in another
/// order make the same group and the master answers `NOT_MODIFIED`, not `CONFLICT`.
pub fn parse_selectors(expressions: &[String]) -> Result<Vec<HostSelector>, BadSelector> {
    expressions
        .iter()
        .map(|expression| {
            let parsed = selector::HostSelector::parse(expression)?;
            let operator = match parsed.operator {
                selector::Operator::Equals => Operator::Equals,
                selector::Operator::NotEquals => Operator::NotEquals,
                selector::Operator::In => Operator::In,
                selector::Operator::NotIn => Operator::NotIn,
            };
            // The grammar decides the operand's form by the operator, as Helios does: `in`
            // and `notin` always take a list, `=` and `!=` always a single value.
            let operand = match parsed.operand {
                selector::Operand::Value(value) => Operand::One(value),
                selector::Operand::Values(mut values) => {
                    values.sort();
                    values.dedup();
                    Operand::Many(values)
                }
            };
            Ok(HostSelector {
                label: parsed.label,
                operand,
                operator,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(expressions: &[&str]) -> Result<Vec<HostSelector>, String> {
        let owned: Vec<String> = expressions.iter().map(|s| s.to_string()).collect();
        parse_selectors(&owned).map_err(|e| e.to_string())
    }

    #[test]
    fn selectors_agree_with_the_api_parser() {
        for expression in [
            "foo=bar",
            "foo = bar",
            "baz!=qux",
            "dc in (b, a, b)",
            "dc in(a,b)",
            "dc notin (x.y, z-1, w_2)",
        ] {
            let api: HostSelector = expression.parse().expect("api parses");
            assert_eq!(parse(&[expression]), Ok(vec![api]), "{expression}");
        }
    }

    #[test]
    fn helios_grammar_decides_what_is_accepted() {
        // Helios's regex is matched against the whole argument, untrimmed.
        assert_eq!(
            parse(&["foo=bar", " foo=bar"]),
            Err("Bad host selector expression: ' foo=bar'".to_string())
        );
        for bad in [
            "foo",
            "foo==bar",
            "foo=bar baz",
            "dc in a, b",
            "la/bel=x",
            "",
        ] {
            assert_eq!(
                parse(&[bad]),
                Err(format!("Bad host selector expression: '{bad}'")),
                "{bad:?}"
            );
        }
        // Helios takes `in` with a bare word as a one-value list.
        let one = parse(&["dc in a"]).expect("parses");
        assert_eq!(
            (one[0].operator, &one[0].operand),
            (Operator::In, &Operand::Many(vec!["a".to_string()]))
        );
    }
}
