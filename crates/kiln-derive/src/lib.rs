//! `#[derive(Module)]`: implements `kiln::nn::Module` for a struct of layers.
//!
//! Field rules (names become PyTorch's dotted `state_dict` keys):
//! - `#[param]` on a `Tensor` or `Option<Tensor>` field: a parameter named after the field;
//! - `#[buffer]` on a `Tensor` or `Option<Tensor>` field: a buffer (saved, not trained);
//! - `#[module(skip)]`: ignored (anything that is not a module);
//! - `#[module(training)]` on a `bool` field: the module's own training flag;
//! - any other field is a submodule (`Linear`, `Vec<Conv2d>`, `Option<Dropout>`, `Sequential`)
//!   or a plain configuration value (numbers, strings, dtypes), which has no tensors.
//!
//! Tuple structs name their fields `0`, `1`, ... The generated code refers to `::kiln::nn`;
//! `#[module(crate = "path")]` on the struct names another path (`kiln_nn` inside Kiln itself).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::{parse_macro_input, spanned::Spanned, Data, DeriveInput, Fields, Index, LitStr, Member};

enum FieldRole {
    Param,
    Buffer,
    Skip,
    Training,
    Child,
}

fn field_role(attrs: &[syn::Attribute]) -> syn::Result<FieldRole> {
    let mut role = FieldRole::Child;
    for attr in attrs {
        if attr.path().is_ident("param") {
            role = FieldRole::Param;
        } else if attr.path().is_ident("buffer") {
            role = FieldRole::Buffer;
        } else if attr.path().is_ident("module") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") {
                    role = FieldRole::Skip;
                    Ok(())
                } else if meta.path.is_ident("training") {
                    role = FieldRole::Training;
                    Ok(())
                } else {
                    Err(meta.error("expected `skip` or `training`"))
                }
            })?;
        }
    }
    Ok(role)
}

fn crate_path(attrs: &[syn::Attribute]) -> syn::Result<syn::Path> {
    let mut path: syn::Path = syn::parse_quote!(::kiln::nn);
    for attr in attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                path = lit.parse()?;
                Ok(())
            } else {
                Err(meta.error("expected `crate = \"path\"`"))
            }
        })?;
    }
    Ok(path)
}

/// Derives `Module` (see the crate docs for the field attributes).
#[proc_macro_derive(Module, attributes(param, buffer, module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(input).unwrap_or_else(syn::Error::into_compile_error).into()
}

fn expand(input: DeriveInput) -> syn::Result<TokenStream2> {
    let krate = crate_path(&input.attrs)?;
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        _ => return Err(syn::Error::new(input.span(), "#[derive(Module)] supports structs only")),
    };
    let members: Vec<(Member, String, &syn::Field)> = match fields {
        Fields::Named(named) => named
            .named
            .iter()
            .map(|f| {
                let id = f.ident.clone().expect("named field");
                let name = id.to_string().trim_start_matches("r#").to_string();
                (Member::Named(id), name, f)
            })
            .collect(),
        Fields::Unnamed(un) => un
            .unnamed
            .iter()
            .enumerate()
            .map(|(i, f)| {
                (
                    Member::Unnamed(Index {
                        index: i as u32,
                        span: Span::call_site(),
                    }),
                    i.to_string(),
                    f,
                )
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };

    let mut visit = Vec::new();
    let mut visit_mut = Vec::new();
    let mut set_training = Vec::new();
    let mut training_field = None;
    let mut child_training = Vec::new();
    for (member, name, field) in &members {
        match field_role(&field.attrs)? {
            FieldRole::Param | FieldRole::Buffer => {
                let kind = if matches!(field_role(&field.attrs)?, FieldRole::Param) {
                    quote!(#krate::TensorKind::Parameter)
                } else {
                    quote!(#krate::TensorKind::Buffer)
                };
                visit.push(quote! {
                    #krate::TensorField::visit_tensor(&self.#member, &#krate::join_name(prefix, #name), #kind, f);
                });
                visit_mut.push(quote! {
                    #krate::TensorField::visit_tensor_mut(&mut self.#member, &#krate::join_name(prefix, #name), #kind, f);
                });
            }
            FieldRole::Skip => {}
            FieldRole::Training => {
                if training_field.is_some() {
                    return Err(syn::Error::new(
                        field.span(),
                        "only one #[module(training)] field is allowed",
                    ));
                }
                set_training.push(quote!(self.#member = training;));
                training_field = Some(member.clone());
            }
            FieldRole::Child => {
                visit.push(quote! {
                    #krate::ModuleField::visit_field(&self.#member, &#krate::join_name(prefix, #name), f);
                });
                visit_mut.push(quote! {
                    #krate::ModuleField::visit_field_mut(&mut self.#member, &#krate::join_name(prefix, #name), f);
                });
                set_training.push(quote!(#krate::ModuleField::set_field_training(&mut self.#member, training);));
                child_training.push(quote!(#krate::ModuleField::field_training(&self.#member)));
            }
        }
    }
    let training_flag = match training_field {
        Some(m) => quote!(Some(self.#m)),
        None => quote! {
            None #(.or_else(|| #child_training))*
        },
    };

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::Module for #ident #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &#krate::Tensor, #krate::TensorKind)) {
                #(#visit)*
            }
            #[allow(unused_variables)]
            fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut #krate::Tensor, #krate::TensorKind)) {
                #(#visit_mut)*
            }
            #[allow(unused_variables)]
            fn set_training(&mut self, training: bool) {
                #(#set_training)*
            }
            fn training_flag(&self) -> Option<bool> {
                #training_flag
            }
        }
    })
}
