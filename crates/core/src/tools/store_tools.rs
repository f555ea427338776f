//! The store's seventeen tools: its sixteen operations (named and shaped as the tau2-retail
//! reference's) and product search. Records are answered as compact JSON, in the reference's
//! shape (an order lists its unset optional fields as null); user lookups answer the bare id.

use super::{Access, Tool, ToolError, ToolFuture, parse_args as parse};
use crate::retail::{Retail, calculate::calculate};
use crate::search::{CatalogSearch, SearchRequest};
use crate::store::model::{Address, ORDER_OPTIONAL_FIELDS, Order};
use crate::tool_name::ToolName;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// One of the store's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Calculate,
    CancelPendingOrder,
    ExchangeDeliveredOrderItems,
    FindUserIdByEmail,
    FindUserIdByNameZip,
    GetItemDetails,
    GetOrderDetails,
    GetProductDetails,
    GetUserDetails,
    ListAllProductTypes,
    ModifyPendingOrderAddress,
    ModifyPendingOrderItems,
    ModifyPendingOrderPayment,
    ModifyUserAddress,
    ReturnDeliveredOrderItems,
    TransferToHumanAgents,
}

const OPS: [(Op, ToolName, Access); 16] = [
    (
        Op::FindUserIdByEmail,
        ToolName::FindUserIdByEmail,
        Access::Identify,
    ),
    (
        Op::FindUserIdByNameZip,
        ToolName::FindUserIdByNameZip,
        Access::Identify,
    ),
    (
        Op::GetUserDetails,
        ToolName::GetUserDetails,
        Access::CustomerRead,
    ),
    (
        Op::GetOrderDetails,
        ToolName::GetOrderDetails,
        Access::CustomerRead,
    ),
    (
        Op::GetProductDetails,
        ToolName::GetProductDetails,
        Access::Public,
    ),
    (Op::GetItemDetails, ToolName::GetItemDetails, Access::Public),
    (
        Op::ListAllProductTypes,
        ToolName::ListAllProductTypes,
        Access::Public,
    ),
    (Op::Calculate, ToolName::Calculate, Access::Public),
    (
        Op::CancelPendingOrder,
        ToolName::CancelPendingOrder,
        Access::CustomerWrite,
    ),
    (
        Op::ModifyPendingOrderAddress,
        ToolName::ModifyPendingOrderAddress,
        Access::CustomerWrite,
    ),
    (
        Op::ModifyPendingOrderItems,
        ToolName::ModifyPendingOrderItems,
        Access::CustomerWrite,
    ),
    (
        Op::ModifyPendingOrderPayment,
        ToolName::ModifyPendingOrderPayment,
        Access::CustomerWrite,
    ),
    (
        Op::ModifyUserAddress,
        ToolName::ModifyUserAddress,
        Access::CustomerWrite,
    ),
    (
        Op::ReturnDeliveredOrderItems,
        ToolName::ReturnDeliveredOrderItems,
        Access::CustomerWrite,
    ),
    (
        Op::ExchangeDeliveredOrderItems,
        ToolName::ExchangeDeliveredOrderItems,
        Access::CustomerWrite,
    ),
    (
        Op::TransferToHumanAgents,
        ToolName::TransferToHumanAgents,
        Access::Handoff,
    ),
];

/// The store's tools, search last when there is an index.
pub(super) fn all(retail: Retail, search: Option<CatalogSearch>) -> Vec<Arc<dyn Tool>> {
    let mut tools: Vec<Arc<dyn Tool>> = OPS
        .iter()
        .map(|&(op, name, access)| {
            Arc::new(StoreOp {
                op,
                name,
                access,
                retail: retail.clone(),
            }) as Arc<dyn Tool>
        })
        .collect();
    if let Some(search) = search {
        tools.push(Arc::new(SearchProducts { search }));
    }
    tools
}

struct StoreOp {
    op: Op,
    name: ToolName,
    access: Access,
    retail: Retail,
}

impl Tool for StoreOp {
    fn name(&self) -> ToolName {
        self.name
    }

    fn access(&self) -> Access {
        self.access
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(self.run(args))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailArgs {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameZipArgs {
    first_name: String,
    last_name: String,
    zip: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserArgs {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderArgs {
    order_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductArgs {
    product_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemArgs {
    item_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpressionArgs {
    expression: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelArgs {
    order_id: String,
    reason: String,
}

/// An address change of an order (`order_id`) or a customer (`user_id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressArgs {
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    address1: String,
    address2: String,
    city: String,
    state: String,
    country: String,
    zip: String,
}

impl AddressArgs {
    fn address(&self) -> Address {
        Address {
            address1: self.address1.clone(),
            address2: self.address2.clone(),
            city: self.city.clone(),
            country: self.country.clone(),
            state: self.state.clone(),
            zip: self.zip.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemChangeArgs {
    order_id: String,
    item_ids: Vec<String>,
    #[serde(default)]
    new_item_ids: Vec<String>,
    payment_method_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentArgs {
    order_id: String,
    payment_method_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryArgs {
    #[allow(dead_code)]
    summary: String,
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("records serialise to JSON")
}

/// An order as the agent sees it: every optional field present, null when unset.
fn order_text(order: &Order) -> String {
    let mut value = serde_json::to_value(order).expect("orders serialise to JSON");
    if let Value::Object(fields) = &mut value {
        for name in ORDER_OPTIONAL_FIELDS {
            fields.entry(name).or_insert(Value::Null);
        }
    }
    value.to_string()
}

impl StoreOp {
    async fn run(&self, args: Value) -> Result<String, ToolError> {
        let retail = &self.retail;
        let name = self.name;
        Ok(match self.op {
            Op::FindUserIdByEmail => {
                let a: EmailArgs = parse(name, args)?;
                retail.find_user_id_by_email(&a.email).await?
            }
            Op::FindUserIdByNameZip => {
                let a: NameZipArgs = parse(name, args)?;
                retail
                    .find_user_id_by_name_zip(&a.first_name, &a.last_name, &a.zip)
                    .await?
            }
            Op::GetUserDetails => {
                let a: UserArgs = parse(name, args)?;
                json(&retail.user_details(&a.user_id).await?)
            }
            Op::GetOrderDetails => {
                let a: OrderArgs = parse(name, args)?;
                order_text(&retail.order_details(&a.order_id).await?)
            }
            Op::GetProductDetails => {
                let a: ProductArgs = parse(name, args)?;
                json(&retail.product_details(&a.product_id).await?)
            }
            Op::GetItemDetails => {
                let a: ItemArgs = parse(name, args)?;
                json(&retail.item_details(&a.item_id).await?)
            }
            Op::ListAllProductTypes => {
                let _: NoArgs = parse(name, args)?;
                let types: serde_json::Map<String, Value> = retail
                    .product_types()
                    .await?
                    .into_iter()
                    .map(|(name, id)| (name, Value::String(id)))
                    .collect();
                Value::Object(types).to_string()
            }
            Op::Calculate => {
                let a: ExpressionArgs = parse(name, args)?;
                calculate(&a.expression)?
            }
            Op::CancelPendingOrder => {
                let a: CancelArgs = parse(name, args)?;
                order_text(&retail.cancel_pending_order(&a.order_id, &a.reason).await?)
            }
            Op::ModifyPendingOrderAddress => {
                let a: AddressArgs = parse(name, args)?;
                let order_id = a.order_id.clone().unwrap_or_default();
                order_text(
                    &retail
                        .modify_pending_order_address(&order_id, a.address())
                        .await?,
                )
            }
            Op::ModifyUserAddress => {
                let a: AddressArgs = parse(name, args)?;
                let user_id = a.user_id.clone().unwrap_or_default();
                json(&retail.modify_user_address(&user_id, a.address()).await?)
            }
            Op::ModifyPendingOrderItems => {
                let a: ItemChangeArgs = parse(name, args)?;
                order_text(
                    &retail
                        .modify_pending_order_items(
                            &a.order_id,
                            &a.item_ids,
                            &a.new_item_ids,
                            &a.payment_method_id,
                        )
                        .await?,
                )
            }
            Op::ExchangeDeliveredOrderItems => {
                let a: ItemChangeArgs = parse(name, args)?;
                order_text(
                    &retail
                        .exchange_delivered_order_items(
                            &a.order_id,
                            &a.item_ids,
                            &a.new_item_ids,
                            &a.payment_method_id,
                        )
                        .await?,
                )
            }
            Op::ReturnDeliveredOrderItems => {
                let a: ItemChangeArgs = parse(name, args)?;
                order_text(
                    &retail
                        .return_delivered_order_items(
                            &a.order_id,
                            &a.item_ids,
                            &a.payment_method_id,
                        )
                        .await?,
                )
            }
            Op::ModifyPendingOrderPayment => {
                let a: PaymentArgs = parse(name, args)?;
                order_text(
                    &retail
                        .modify_pending_order_payment(&a.order_id, &a.payment_method_id)
                        .await?,
                )
            }
            Op::TransferToHumanAgents => {
                let _: SummaryArgs = parse(name, args)?;
                "Transfer successful".to_owned()
            }
        })
    }
}

/// `search_products`: the catalog search as a tool.
struct SearchProducts {
    search: CatalogSearch,
}

impl Tool for SearchProducts {
    fn name(&self) -> ToolName {
        ToolName::SearchProducts
    }

    fn access(&self) -> Access {
        Access::Public
    }

    fn call(&self, args: Value) -> ToolFuture<'_> {
        Box::pin(async move {
            let request: SearchRequest = parse(ToolName::SearchProducts, args)?;
            Ok(json(&self.search.search(request).await?))
        })
    }
}
